//! The request an act belongs to: its id, the client's address and user agent, and (once the
//! edge has authenticated it) who is acting.
//!
//! The HTTP edge runs each request inside [`scope`]; the engine reads [`current`] when it turns
//! a committed change into audit events, so that every service call made for a request is
//! attributed to it without each of them passing it on. Outside a request (start-up, the
//! command line, schedules) there is no context and the actor is the system itself. The value
//! is task-local: it follows the request's own task, never another request's.

use std::sync::{Arc, Mutex};

use crate::event::{Actor, Client};

tokio::task_local! {
    static CONTEXT: Arc<RequestContext>;
}

/// One request, as the audit log sees it.
#[derive(Debug)]
pub struct RequestContext {
    /// `rq_` and 32 hex digits, also sent back as `X-Request-Id`.
    pub request_id: String,
    pub client: Client,
    actor: Mutex<Option<Actor>>,
}

impl RequestContext {
    pub fn new(request_id: String, client: Client) -> RequestContext {
        RequestContext {
            request_id,
            client,
            actor: Mutex::new(None),
        }
    }

    /// Who is acting, once known (an authenticated caller); `None`: anonymous so far.
    pub fn actor(&self) -> Option<Actor> {
        self.actor.lock().ok().and_then(|a| a.clone())
    }

    /// Records who is acting (the edge, after authentication).
    pub fn set_actor(&self, actor: Actor) {
        if let Ok(mut slot) = self.actor.lock() {
            *slot = Some(actor);
        }
    }
}

/// Runs `work` as part of the request `context`.
pub async fn scope<F: std::future::Future>(context: Arc<RequestContext>, work: F) -> F::Output {
    CONTEXT.scope(context, work).await
}

/// The request the current task serves, if any.
pub fn current() -> Option<Arc<RequestContext>> {
    CONTEXT.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ActorKind;

    #[tokio::test]
    async fn the_context_belongs_to_its_own_task_only() {
        assert!(current().is_none());
        let a = Arc::new(RequestContext::new(
            types::RequestId::random().to_string(),
            Client::default(),
        ));
        let b = Arc::new(RequestContext::new(
            types::RequestId::random().to_string(),
            Client::default(),
        ));
        assert_ne!(a.request_id, b.request_id);
        let seen_b = tokio::spawn(scope(Arc::clone(&b), async {
            current().map(|c| (c.request_id.clone(), c.actor()))
        }));
        let seen_a = scope(Arc::clone(&a), async {
            if let Some(c) = current() {
                c.set_actor(Actor {
                    kind: ActorKind::User,
                    id: Some("us_1".into()),
                    tenant: None,
                });
            }
            current().map(|c| (c.request_id.clone(), c.actor()))
        })
        .await;
        let (id_a, actor_a) = seen_a.expect("a in scope");
        assert_eq!(id_a, a.request_id);
        assert_eq!(actor_a.and_then(|x| x.id).as_deref(), Some("us_1"));
        let (id_b, actor_b) = seen_b.await.expect("task").expect("b in scope");
        assert_eq!(id_b, b.request_id);
        assert_eq!(actor_b, None);
        assert!(current().is_none());
    }
}
