//! On whose behalf a provisioner call is made: a task-local name a controller sets around its
//! work (e.g. `replica/shard-2/tenure-1`), which a backend may record (the fixture's journal
//! does) so that who acted on a host, and when, can be checked afterwards.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static ACTOR: Arc<str>;
}

/// Runs `f` with `actor` as the current actor.
pub async fn scope<F: Future>(actor: impl Into<Arc<str>>, f: F) -> F::Output {
    ACTOR.scope(actor.into(), f).await
}

/// The current actor, when a caller set one.
pub fn current() -> Option<Arc<str>> {
    ACTOR.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_actor_is_seen_inside_its_scope_only() {
        assert_eq!(current(), None);
        let seen = scope("r1/shard-0/tenure-1", async { current() }).await;
        assert_eq!(seen.as_deref(), Some("r1/shard-0/tenure-1"));
        assert_eq!(current(), None);
    }
}
