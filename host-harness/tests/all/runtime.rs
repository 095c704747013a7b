//! Components are compiled once and then loaded from the on-disk cache; a damaged cache entry is recompiled.

use connector_harness::runtime::Runtime;

#[test]
fn a_component_is_compiled_once_then_loaded_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    let component = component_build::pingboard_component();
    let runtime = Runtime::new(Some(cache.path().to_path_buf())).unwrap();
    let first = runtime.load(&component).unwrap();
    assert!(first.compiled);
    let second = runtime.load(&component).unwrap();
    assert!(!second.compiled, "the second load reads the cache");
    assert_eq!(first.sha256, second.sha256);

    let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "one artifact: {entries:?}");
    let name = entries[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.starts_with(&first.sha256) && name.ends_with(".cwasm"), "{name}");

    std::fs::write(&entries[0], b"not a compiled component").unwrap();
    let third = Runtime::new(Some(cache.path().to_path_buf())).unwrap().load(&component).unwrap();
    assert!(third.compiled, "a damaged cache entry is replaced, not trusted");
    assert!(!runtime.load(&component).unwrap().compiled);
}
