//! Serves the REST API in Kazoo's crossbar shape: envelope, auth, accounts, users and faxboxes.
//!
//! Ports the parts of Kazoo 4.3's `crossbar` application the fax service needs: the `/v2` request and response
//! envelope ([`envelope`], `api_util`), user and API-key logins with tokens and account scoping ([`auth`],
//! `cb_user_auth`, `cb_api_auth`, `cb_simple_authz`), accounts ([`accounts`], `cb_accounts`), users
//! ([`users`], `cb_users_v2`) and faxboxes ([`faxboxes`], `cb_faxboxes`), with schema validation ([`schema`])
//! and document-change events for other nodes' caches ([`events`]). [`router`] builds the HTTP service;
//! [`child_spec`] runs it under the node's supervisor.

pub mod accounts;
pub mod auth;
pub mod docs;
pub mod envelope;
pub mod events;
pub mod faxboxes;
pub mod schema;
pub mod server;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, put};
use kz_amqp::Bus;
use kz_config::Config;
use kz_data::Store;

pub use envelope::{ApiError, Reply};
pub use server::child_spec;

/// What the API works with: the store, the bus (for change events), configuration and the node name.
pub struct ApiContext {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub config: Config,
    /// The node name (`faxd@host`), reported hashed in every answer and as `Node` on the bus.
    pub node: String,
}

impl std::fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiContext")
            .field("store", &self.store.backend())
            .field("bus", &self.bus.backend())
            .field("node", &self.node)
            .finish()
    }
}

/// The router's shared state: the context plus what the API keeps between requests.
pub struct Api {
    pub(crate) ctx: Arc<ApiContext>,
    pub(crate) node_hash: String,
    pub(crate) tokens: auth::TokenCache,
    /// The compiled faxbox schema; an error here answers faxbox requests with a 500 rather than stopping the node.
    pub(crate) faxbox_schema: Result<schema::Schema, String>,
    /// `faxes` and its views were checked by this process.
    pub(crate) faxes_ready: AtomicBool,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("ctx", &self.ctx).finish()
    }
}

/// The REST API as an axum router (`/v2/...`), every answer in Kazoo's envelope.
pub fn router(ctx: Arc<ApiContext>) -> Router {
    let api = Arc::new(Api {
        node_hash: envelope::node_hash(&ctx.node),
        ctx,
        tokens: auth::TokenCache::default(),
        faxbox_schema: schema::Schema::faxbox().map_err(|e| e.to_string()),
        faxes_ready: AtomicBool::new(false),
    });
    Router::new()
        .route("/v2/user_auth", put(auth::user_auth))
        .route("/v2/api_auth", put(auth::api_auth))
        .route(
            "/v2/accounts/{account_id}",
            get(accounts::get).put(accounts::create_child).post(accounts::post).patch(accounts::patch),
        )
        .route("/v2/accounts/{account_id}/users", get(users::list).put(users::create))
        .route(
            "/v2/accounts/{account_id}/users/{user_id}",
            get(users::get).post(users::post).patch(users::patch).delete(users::delete),
        )
        .route("/v2/accounts/{account_id}/faxboxes", get(faxboxes::list).put(faxboxes::create))
        .route(
            "/v2/accounts/{account_id}/faxboxes/{faxbox_id}",
            get(faxboxes::get).post(faxboxes::post).patch(faxboxes::patch).delete(faxboxes::delete),
        )
        .fallback(|| async { ApiError::not_found() })
        .layer(from_fn_with_state(api.clone(), envelope::envelope))
        .with_state(api)
}
