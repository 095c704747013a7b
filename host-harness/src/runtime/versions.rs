//! The contract versions this host runs: a component is linked by the version its export names, and every
//! call is written once against whichever version's bindings an instance has (`guest_call!`).

use anyhow::{Result, anyhow, bail};
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre};
use wasmtime::Engine;

use super::sandbox::TenantState;
use crate::contract::{v0_1, v0_2, v0_3, v0_4, v0_5};

/// The contract versions this host runs, newest first.
pub(super) const SUPPORTED: [&str; 5] = [v0_5::VERSION, v0_4::VERSION, v0_3::VERSION, v0_2::VERSION, v0_1::VERSION];

/// A linked component, by the contract version it exports.
pub(super) enum Pre {
    V0_1(v0_1::IdentityConnectorPre<TenantState>),
    V0_2(v0_2::IdentityConnectorPre<TenantState>),
    V0_3(v0_3::IdentityConnectorPre<TenantState>),
    V0_4(v0_4::IdentityConnectorPre<TenantState>),
    V0_5(v0_5::IdentityConnectorPre<TenantState>),
}

/// An instance's exports, by contract version.
pub(super) enum Bindings {
    V0_1(v0_1::IdentityConnector),
    V0_2(v0_2::IdentityConnector),
    V0_3(v0_3::IdentityConnector),
    V0_4(v0_4::IdentityConnector),
    V0_5(v0_5::IdentityConnector),
}

/// The version of `identity:connector` a component exports, read from its export's own name
/// (`identity:connector/connector@0.1.0`): the version travels inside the binary, no custom section needed.
pub(super) fn contract_version(engine: &Engine, component: &Component) -> Result<String> {
    const INTERFACE: &str = "identity:connector/connector@";
    let mut exports = component.component_type().exports(engine).map(|(name, _)| name.to_string()).collect::<Vec<_>>();
    exports.sort();
    exports
        .iter()
        .find_map(|name| name.strip_prefix(INTERFACE).map(str::to_string))
        .ok_or_else(|| anyhow!("it does not export identity:connector/connector (it exports: {})", if exports.is_empty() { "nothing".into() } else { exports.join(", ") }))
}

impl Pre {
    /// The linked component as its contract `version`'s bindings see it.
    pub(super) fn new(version: &str, linked: InstancePre<TenantState>) -> Result<Self> {
        let not_world = |e: wasmtime::Error| anyhow!("does not implement the identity:connector world: {e:#}");
        Ok(match version {
            v0_5::VERSION => Pre::V0_5(v0_5::IdentityConnectorPre::new(linked).map_err(not_world)?),
            v0_4::VERSION => Pre::V0_4(v0_4::IdentityConnectorPre::new(linked).map_err(not_world)?),
            v0_3::VERSION => Pre::V0_3(v0_3::IdentityConnectorPre::new(linked).map_err(not_world)?),
            v0_2::VERSION => Pre::V0_2(v0_2::IdentityConnectorPre::new(linked).map_err(not_world)?),
            v0_1::VERSION => Pre::V0_1(v0_1::IdentityConnectorPre::new(linked).map_err(not_world)?),
            other => bail!("exports identity:connector@{other}, which this host does not support (it runs {})", SUPPORTED.join(", ")),
        })
    }

    pub(super) async fn instantiate(&self, store: &mut Store<TenantState>) -> wasmtime::Result<Bindings> {
        Ok(match self {
            Pre::V0_1(pre) => Bindings::V0_1(pre.instantiate_async(store).await?),
            Pre::V0_2(pre) => Bindings::V0_2(pre.instantiate_async(store).await?),
            Pre::V0_3(pre) => Bindings::V0_3(pre.instantiate_async(store).await?),
            Pre::V0_4(pre) => Bindings::V0_4(pre.instantiate_async(store).await?),
            Pre::V0_5(pre) => Bindings::V0_5(pre.instantiate_async(store).await?),
        })
    }
}

/// Runs one call under the instance's deadline, classifying traps and timeouts.
macro_rules! guest_call {
    ($self:ident, $name:literal, |$guest:ident, $store:ident, $w:ident| $call:expr) => {{
        if let Some(reason) = &$self.poisoned {
            return Err(CallError::Poisoned(reason.clone()));
        }
        let $store = &mut $self.store;
        // The same call, written once, against whichever version's bindings this instance has: `$w` names
        // that version's types, and the call converts its answer to the model inside.
        let outcome = match &$self.bindings {
            $crate::runtime::versions::Bindings::V0_1(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_1::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
            $crate::runtime::versions::Bindings::V0_2(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_2::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
            $crate::runtime::versions::Bindings::V0_3(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_3::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
            $crate::runtime::versions::Bindings::V0_4(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_4::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
            $crate::runtime::versions::Bindings::V0_5(bindings) => {
                #[allow(unused_imports)]
                use crate::contract::v0_5::w as $w;
                let $guest = bindings.identity_connector_connector();
                tokio::time::timeout($self.call_timeout, $call).await
            }
        };
        // A rule broken during the call ends the session, whatever the guest made of the refusal.
        if let Some(reason) = $self.store.data().policy().stopped() {
            let error = CallError::Stopped(reason);
            $self.poisoned = Some(error.to_string());
            return Err(error);
        }
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(trap)) => {
                let message = describe_trap($name, &trap);
                $self.poisoned = Some(message.clone());
                Err(CallError::Trap(message))
            }
            Err(_) => {
                let error = CallError::Timeout { call: $name, after: $self.call_timeout };
                $self.poisoned = Some(error.to_string());
                Err(error)
            }
        }
    }};
}
pub(super) use guest_call;
