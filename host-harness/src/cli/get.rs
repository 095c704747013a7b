//! `get TYPE:ID`: one resource, fetched live from the source, printed as an export line.

use anyhow::{Result, anyhow};
use clap::Args;

use super::Context;
use super::args::{TenantArgs, prepare};
use super::write::parse_id;
use crate::driver::OpenSession;
use crate::options::SyncOptions;

/// Fetch one resource, TYPE:ID, live from the source and print it as an export line.
#[derive(Args)]
pub struct GetCommand {
    #[command(flatten)]
    tenant: TenantArgs,
    /// TYPE:ID, e.g. user:123.
    resource: String,
}

impl GetCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let target = parse_id(&self.resource, "get")?;
        let (runtime, loaded, _, tenant) = prepare(&self.tenant, cx.cache_dir.clone(), cx.redactor).await?;
        let mut session = OpenSession::open(&runtime, &loaded, &tenant, &SyncOptions::default(), false).await?;
        let found = session.instance().get_resource(&target).await.map_err(|e| session.explain(anyhow!("get {}: {e}", self.resource)))?;
        writeln!(cx.out, "{}", crate::records::resource_line(&found))?;
        Ok(())
    }
}
