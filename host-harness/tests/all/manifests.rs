//! The deployment files (`deploy/kubernetes/`, `Dockerfile`) agree with the binary: every container runs it
//! with arguments and environment its parser accepts, probes its real health paths on its listening port,
//! and names components the image holds. And every manifest is a valid Kubernetes object, checked offline
//! with `kubernetes-validate --strict` (PyPI), which rejects misspelt fields.

use std::path::{Path, PathBuf};

use connector_harness::service::http::{HEALTH_PATH, READY_PATH};
use yaml_rust2::{Yaml, YamlLoader};

const KUBERNETES_VALIDATE: &str = "1.37.0";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn manifests() -> Vec<PathBuf> {
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = [dir.clone(), dir.join("sqlite")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Vec<Yaml> {
    YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(yaml: &Yaml) -> String {
    match yaml {
        Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

/// The keys and values of a Secret in deploy/secret.example.yaml (outside deploy/kubernetes/, so `kubectl
/// apply -f deploy/kubernetes/` never applies it).
fn secret_variables(name: &str) -> Vec<(String, String)> {
    let docs = load(&repo().join("deploy/secret.example.yaml"));
    let secret = docs.iter().find(|d| d["metadata"]["name"].as_str() == Some(name)).unwrap_or_else(|| panic!("no example Secret {name}"));
    secret["stringData"].as_hash().unwrap().iter().map(|(k, v)| (text(k), text(v))).collect()
}

#[test]
fn every_container_runs_the_binary_with_arguments_it_accepts_and_probes_its_real_paths() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let tenants = load(&repo().join("deploy/kubernetes/configmap.yaml"))[0]["data"]["tenants.toml"].as_str().unwrap().to_string();
    let mut checked = 0;
    for path in manifests() {
        for doc in load(&path).iter().filter(|d| d["kind"].as_str() == Some("Deployment")) {
            let pod = &doc["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            let mut argv = vec!["connector-harness".to_string()];
            argv.extend(container["args"].as_vec().unwrap().iter().map(text));
            // Each HARNESS_* variable is a flag's twin: passed as that flag, a misspelt name fails to parse.
            let mut variables: Vec<(String, String)> = container["env"]
                .as_vec()
                .unwrap()
                .iter()
                .map(|e| (text(&e["name"]), e["value"].as_str().map_or_else(|| "from-the-pod".to_string(), String::from)))
                .collect();
            for source in container["envFrom"].as_vec().into_iter().flatten() {
                variables.extend(secret_variables(source["secretRef"]["name"].as_str().unwrap()));
            }
            for (name, value) in variables.iter().filter(|(name, _)| name.starts_with("HARNESS_")) {
                argv.push(format!("--{}={value}", name["HARNESS_".len()..].to_lowercase().replace('_', "-")));
            }
            connector_harness::cli::parse_only(&argv).unwrap_or_else(|e| panic!("{}: the binary refuses {argv:?}:\n{e}", path.display()));

            let listen = argv.iter().find_map(|a| a.strip_prefix("--listen=")).expect("a --listen argument");
            let port = &container["ports"][0];
            assert_eq!(listen, format!("0.0.0.0:{}", text(&port["containerPort"])), "{}", path.display());
            // The SCIM gateway's port, which its own Service exposes by name.
            let scim = argv.iter().find_map(|a| a.strip_prefix("--scim-listen=")).expect("a --scim-listen argument");
            let scim_port = container["ports"].as_vec().unwrap().iter().find(|p| p["name"].as_str() == Some("scim")).expect("a port named scim");
            assert_eq!(scim, format!("0.0.0.0:{}", text(&scim_port["containerPort"])), "{}", path.display());
            for (probe, expected) in [("startupProbe", HEALTH_PATH), ("livenessProbe", HEALTH_PATH), ("readinessProbe", READY_PATH)] {
                let get = &container[probe]["httpGet"];
                assert_eq!((get["path"].as_str(), get["port"].as_str()), (Some(expected), port["name"].as_str()), "{}: {probe}", path.display());
            }
            let tenants_arg = argv.iter().find_map(|a| a.strip_prefix("--tenants=")).expect("a --tenants argument");
            let mounted = pod["volumes"].as_vec().unwrap().iter().any(|v| v["configMap"]["name"].as_str() == Some("connector-harness-tenants"));
            let mount = container["volumeMounts"].as_vec().unwrap().iter().find(|m| m["name"].as_str() == Some("tenants")).unwrap();
            assert!(mounted && tenants_arg == format!("{}/tenants.toml", mount["mountPath"].as_str().unwrap()), "{}", path.display());
            let store = argv.iter().find_map(|a| a.strip_prefix("--store=")).unwrap_or_else(|| panic!("{}: a store", path.display()));
            // Every file the tenants file and the store read is a key of a mounted Secret, so it follows rotations.
            let mut files: Vec<String> = tenants.split("file = \"").skip(1).map(|rest| rest.split('"').next().unwrap().to_string()).collect();
            if store.starts_with("postgres://") {
                assert!(store.contains("sslmode=verify-full"), "{}: the store's server is verified: {store}", path.display());
                files.push(store.split("sslrootcert=").nth(1).expect("a CA file").split('&').next().unwrap().to_string());
            }
            assert!(files.len() >= 3, "{files:?}");
            for file in files {
                let (dir, key) = file.rsplit_once('/').unwrap();
                let mount = container["volumeMounts"].as_vec().unwrap().iter().find(|m| m["mountPath"].as_str() == Some(dir)).unwrap_or_else(|| panic!("{}: nothing mounted at {dir}", path.display()));
                let volume = pod["volumes"].as_vec().unwrap().iter().find(|v| v["name"] == mount["name"]).unwrap();
                let secret = volume["secret"]["secretName"].as_str().unwrap_or_else(|| panic!("{dir} is a Secret"));
                assert!(secret_variables(secret).iter().any(|(k, _)| k == key), "the Secret {secret} has the key {key}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2, "the PostgreSQL and the SQLite deployments");
    let scim_service = &load(&repo().join("deploy/kubernetes/scim-service.yaml"))[0];
    assert_eq!(scim_service["spec"]["ports"][0]["targetPort"].as_str(), Some("scim"), "the SCIM Service reaches the scim port");

    // The tenants file parses, and names components the image holds.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tenants.toml"), &tenants).unwrap();
    let parsed = connector_harness::tenant::TenantSpec::many_from_file(&dir.path().join("tenants.toml")).unwrap();
    assert_eq!(parsed.len(), 2);
    for line in tenants.lines().filter_map(|l| l.strip_prefix("component = \"")) {
        let component = line.trim_end_matches('"');
        let file = component.strip_prefix("/opt/connector-harness/components/").expect("a component of the image");
        assert!(dockerfile.contains(&format!("/src/target/wasm32-wasip2/release/{file}")), "the image holds {file}");
    }
}

#[test]
fn every_manifest_is_a_valid_kubernetes_object() {
    let validate = real_servers::python_tool("kubernetes-validate", KUBERNETES_VALIDATE, "kubernetes-validate");
    let mut files = manifests();
    assert_eq!(files.len(), 7);
    assert!(!files.iter().any(|f| f.to_string_lossy().contains("secret")), "no Secret in what `kubectl apply -f` takes");
    files.push(repo().join("deploy/secret.example.yaml"));
    let output = std::process::Command::new(validate).arg("--strict").args(&files).output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{report}");
    assert_eq!(report.lines().filter(|l| l.starts_with("INFO") && l.contains(" passed")).count(), 10, "every object passed:\n{report}");
}
