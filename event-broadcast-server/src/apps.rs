//! The running apps, found by key (WebSocket) or id (HTTP API); each has a
//! hub of its own (its channels, cluster bus and webhooks), with its
//! settings over the server's.

use std::collections::HashMap;
use std::sync::Arc;

use crate::app_config::AppConfig;
use crate::config::ServerConfig;
use crate::hub::Hub;

/// The running apps: one hub each.
pub(crate) struct Apps {
    hubs: Vec<Arc<Hub>>,
    by_key: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
}

impl Apps {
    /// Refuses two apps with one id or one key.
    pub(crate) fn new(hubs: Vec<Arc<Hub>>) -> anyhow::Result<Self> {
        let mut by_key = HashMap::new();
        let mut by_id = HashMap::new();
        for (i, hub) in hubs.iter().enumerate() {
            let c = &hub.config.credentials;
            if by_id.insert(c.app_id.clone(), i).is_some() {
                anyhow::bail!("two apps have the id `{}`", c.app_id);
            }
            if by_key.insert(c.key.clone(), i).is_some() {
                anyhow::bail!("two apps have the key `{}`", c.key);
            }
        }
        Ok(Self {
            hubs,
            by_key,
            by_id,
        })
    }

    pub(crate) fn by_key(&self, key: &str) -> Option<&Arc<Hub>> {
        self.by_key.get(key).map(|i| &self.hubs[*i])
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Arc<Hub>> {
        self.by_id.get(id).map(|i| &self.hubs[*i])
    }

    pub(crate) fn all(&self) -> &[Arc<Hub>] {
        &self.hubs
    }
}

impl ServerConfig {
    /// The settings of `app` on this server: its credentials, limits and
    /// switches over the server's.
    pub(crate) fn for_app(&self, app: &AppConfig) -> ServerConfig {
        let mut c = self.clone();
        c.apps.clear();
        c.credentials = app.credentials.clone();
        c.limits = app.limits;
        if let Some(n) = app.max_event_bytes {
            c.max_event_bytes = n;
        }
        if let Some(b) = app.client_events {
            c.client_events = b;
        }
        if let Some(b) = app.subscription_count {
            c.subscription_count = b;
        }
        if let Some(url) = &app.webhook_url {
            c.webhook_url = Some(url.clone());
        }
        c
    }

    /// Adds apps (from an apps file). One with the server's own app id must
    /// have its key and secret, and sets that app's limits and switches.
    pub fn add_apps(&mut self, apps: Vec<AppConfig>) -> anyhow::Result<()> {
        for app in apps {
            if app.credentials.app_id != self.credentials.app_id {
                self.apps.push(app);
                continue;
            }
            if app.credentials != self.credentials {
                anyhow::bail!(
                    "app `{}` is in the apps file and in EVENTS_BROADCAST_APP_ID with another \
                     key or secret (EVENTS_BROADCAST_APP_KEY / _APP_SECRET)",
                    app.credentials.app_id
                );
            }
            let more = std::mem::take(&mut self.apps);
            *self = self.for_app(&app);
            self.apps = more;
        }
        Ok(())
    }

    /// Every app's settings: the server's own app first.
    pub(crate) fn app_configs(&self) -> Vec<ServerConfig> {
        let mut own = self.clone();
        own.apps.clear();
        std::iter::once(own)
            .chain(self.apps.iter().map(|a| self.for_app(a)))
            .collect()
    }
}
