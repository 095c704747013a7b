//! `validate`: the tenant's config and credentials, checked with one cheap call.

use anyhow::{Result, anyhow};
use clap::Args;

use super::Context;
use super::args::{TenantArgs, prepare};
use crate::display::printable;
use crate::driver::OpenSession;
use crate::options::SyncOptions;

/// Check a tenant's config and credentials with one cheap call.
#[derive(Args)]
pub struct ValidateCommand {
    #[command(flatten)]
    tenant: TenantArgs,
}

impl ValidateCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let (runtime, loaded, _, tenant) = prepare(&self.tenant, cx.cache_dir.clone(), cx.redactor).await?;
        let mut session = OpenSession::open(&runtime, &loaded, &tenant, &SyncOptions::default(), false).await?;
        let validation = session.instance().validate().await.map_err(|e| session.explain(anyhow!("validation failed: {e}")))?;
        writeln!(cx.out, "ok: tenant `{}`: {} ({} requests)", tenant.name, printable(&validation, 4 << 10), session.requests().requests)?;
        // Everywhere this tenant's traffic and credentials may go, for the operator to see.
        let origins = tenant.origins.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        writeln!(cx.out, "origins: {origins}")?;
        if let Some(endpoint) = tenant.token_endpoint() {
            writeln!(cx.out, "token endpoint: {endpoint}")?;
        }
        Ok(())
    }
}
