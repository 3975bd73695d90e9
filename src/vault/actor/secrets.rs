//! Secret operations of the vault actor: put (and rotate), delete, publish.

use secrecy::SecretString;

use super::{VaultActor, VaultState};
use crate::model::TenantId;
use crate::vault::audit::AuditEvent;
use crate::vault::backend::Backend;
use crate::vault::error::VaultError;
use crate::vault::handle::PublishReport;
use crate::vault::path::{SecretKind, SecretPath};
use crate::vault::principal::{Capability, Principal};

impl<B: Backend> VaultActor<B> {
    pub(super) async fn put(
        &self,
        st: &mut VaultState<B>,
        principal: &Principal,
        path: &SecretPath,
        kind: SecretKind,
        value: &SecretString,
        only_if_changed: bool,
    ) -> Result<(u64, bool), VaultError> {
        if let Err(reason) = self
            .config
            .policy
            .check(principal, Capability::SecretWrite, path)
        {
            return Err(self.deny(st, principal, Capability::SecretWrite, path, reason));
        }
        // If the store lost this secret, write it back at the version its local holders
        // know (the next one if the value changed), so a refill is not a rotation.
        let first_version = st
            .local
            .of_path(path)
            .max_by_key(|l| l.version)
            .map_or(1, |l| l.version + u64::from(!l.holds(kind, value)));
        let r = st
            .backend
            .put_secret(path, kind, value, only_if_changed, first_version)
            .await;
        Self::note_backend(st, &r);
        let out = r?;
        if out.changed {
            self.audit(
                st,
                AuditEvent::Write,
                &principal.to_string(),
                Some(Capability::SecretWrite),
                &path.to_string(),
                None,
                Some(format!("version {} kind {kind}", out.version)),
            );
            for l in st.local.of_path(path) {
                l.rotated(out.version);
            }
        }
        Ok((out.version, out.changed))
    }

    pub(super) async fn delete(
        &self,
        st: &mut VaultState<B>,
        principal: &Principal,
        path: &SecretPath,
    ) -> Result<bool, VaultError> {
        if let Err(reason) = self
            .config
            .policy
            .check(principal, Capability::SecretWrite, path)
        {
            return Err(self.deny(st, principal, Capability::SecretWrite, path, reason));
        }
        let r = st.backend.delete_secret(path).await;
        Self::note_backend(st, &r);
        let existed = r?;
        self.audit(
            st,
            AuditEvent::Delete,
            &principal.to_string(),
            Some(Capability::SecretWrite),
            &path.to_string(),
            None,
            None,
        );
        self.revoke_prefix(st, &format!("{path}/")).await?;
        Ok(existed)
    }

    pub(super) async fn publish(
        &self,
        st: &mut VaultState<B>,
        tenant: &TenantId,
        items: Vec<(String, SecretString, SecretKind)>,
    ) -> Result<PublishReport, VaultError> {
        let mut report = PublishReport::default();
        for (name, value, kind) in items {
            let path = SecretPath::new(tenant.provider.as_str(), tenant.tenant.as_str(), &name)?;
            let (_, changed) = self
                .put(st, &Principal::Admin, &path, kind, &value, true)
                .await?;
            if changed {
                report.written += 1;
            } else {
                report.unchanged += 1;
            }
        }
        Ok(report)
    }
}
