//! Redfish sessions of one BMC service, and the account lockout after failed logins, as
//! plain data with the clock passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The session rules, from the realism knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Sessions open at once (0 = unlimited).
    pub limit: usize,
    /// Idle time after which a session ends.
    pub timeout: Duration,
    /// Failed logins in a row that lock the account (0 = never).
    pub lockout_threshold: u32,
    /// How long a locked account stays locked.
    pub lockout: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            limit: 0,
            timeout: Duration::from_secs(1800),
            lockout_threshold: 0,
            lockout: Duration::from_secs(60),
        }
    }
}

/// An open session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: u64,
    pub username: String,
    /// The password the session was opened with: a session authorises what those
    /// credentials authorise.
    pub password: String,
    /// When the session was opened.
    pub opened: Instant,
    last_used: Instant,
}

/// Why a login was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    BadCredentials,
    Locked,
    Limit,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::BadCredentials => "the user name or password is wrong",
            Self::Locked => "the account is locked after too many failed logins; wait and retry",
            Self::Limit => "the maximum number of sessions is reached; log out of one first",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Sessions and failed-login counts of one service.
#[derive(Debug, Default)]
pub struct Sessions {
    by_token: HashMap<String, Session>,
    failures: HashMap<String, Failures>,
    next_id: u64,
    salt: u64,
}

impl Sessions {
    /// `salt` makes tokens differ between services and runs.
    pub fn new(salt: u64) -> Self {
        Self {
            salt,
            ..Self::default()
        }
    }

    fn expire(&mut self, now: Instant, rules: Rules) {
        self.by_token
            .retain(|_, s| now.saturating_duration_since(s.last_used) < rules.timeout);
    }

    /// Whether `username` is locked out now.
    pub fn locked(&mut self, username: &str, now: Instant) -> bool {
        let Some(f) = self.failures.get_mut(username) else {
            return false;
        };
        match f.locked_until {
            Some(until) if now < until => true,
            Some(_) => {
                *f = Failures::default();
                false
            }
            None => false,
        }
    }

    /// Records an authentication attempt by `username`; returns whether it may proceed (the
    /// account is not locked and the credentials were right).
    pub fn attempt(&mut self, username: &str, valid: bool, now: Instant, rules: Rules) -> bool {
        if self.locked(username, now) {
            return false;
        }
        if valid {
            self.failures.remove(username);
            return true;
        }
        let f = self.failures.entry(username.to_string()).or_default();
        f.count += 1;
        if rules.lockout_threshold > 0 && f.count >= rules.lockout_threshold {
            f.locked_until = Some(now + rules.lockout);
        }
        false
    }

    /// Opens a session; `valid` says whether the credentials are right.
    pub fn login(
        &mut self,
        username: &str,
        password: &str,
        valid: bool,
        now: Instant,
        rules: Rules,
    ) -> Result<(u64, String), Refusal> {
        if self.locked(username, now) {
            return Err(Refusal::Locked);
        }
        if !self.attempt(username, valid, now, rules) {
            return Err(if self.locked(username, now) {
                Refusal::Locked
            } else {
                Refusal::BadCredentials
            });
        }
        self.expire(now, rules);
        if rules.limit > 0 && self.by_token.len() >= rules.limit {
            return Err(Refusal::Limit);
        }
        self.next_id += 1;
        let id = self.next_id;
        let token = format!("{:016x}{:016x}", self.salt, mix(self.salt ^ id));
        self.by_token.insert(
            token.clone(),
            Session {
                id,
                username: username.into(),
                password: password.into(),
                opened: now,
                last_used: now,
            },
        );
        Ok((id, token))
    }

    /// The session of `token`, if still open; using it keeps it open.
    pub fn touch(&mut self, token: &str, now: Instant, rules: Rules) -> Option<Session> {
        let session = self.by_token.get_mut(token)?;
        if now.saturating_duration_since(session.last_used) >= rules.timeout {
            self.by_token.remove(token);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// Ends session `id`; false when there was none.
    pub fn logout(&mut self, id: u64) -> bool {
        let before = self.by_token.len();
        self.by_token.retain(|_, s| s.id != id);
        before != self.by_token.len()
    }

    /// Open sessions, oldest first.
    pub fn list(&mut self, now: Instant, rules: Rules) -> Vec<Session> {
        self.expire(now, rules);
        let mut all: Vec<Session> = self.by_token.values().cloned().collect();
        all.sort_by_key(|s| s.id);
        all
    }
}

/// SplitMix64's finaliser: spreads a counter into a token-looking number.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            limit: 2,
            timeout: Duration::from_secs(60),
            lockout_threshold: 3,
            lockout: Duration::from_secs(30),
        }
    }

    #[test]
    fn the_session_limit_counts_open_sessions() {
        let now = Instant::now();
        let mut s = Sessions::new(1);
        let (a, ta) = s.login("admin", "pw", true, now, rules()).expect("first");
        let (_, tb) = s.login("admin", "pw", true, now, rules()).expect("second");
        assert_ne!(ta, tb);
        assert_eq!(
            s.login("admin", "pw", true, now, rules()),
            Err(Refusal::Limit)
        );
        assert!(s.logout(a));
        assert!(!s.logout(a), "already gone");
        assert!(s.touch(&ta, now, rules()).is_none());
        s.login("admin", "pw", true, now, rules())
            .expect("room again");
    }

    #[test]
    fn idle_sessions_time_out_and_use_keeps_them() {
        let t0 = Instant::now();
        let mut s = Sessions::new(2);
        let (_, busy) = s.login("admin", "pw", true, t0, rules()).expect("busy");
        let (_, idle) = s.login("admin", "pw", true, t0, rules()).expect("idle");
        let t1 = t0 + Duration::from_secs(45);
        assert!(s.touch(&busy, t1, rules()).is_some());
        let t2 = t0 + Duration::from_secs(90);
        assert!(s.touch(&idle, t2, rules()).is_none(), "idle for 90 s");
        let kept = s.touch(&busy, t2, rules()).expect("used 45 s ago");
        assert_eq!(kept.username, "admin");
        assert_eq!(s.list(t2, rules()).len(), 1);
        s.login("admin", "pw", true, t2, rules())
            .expect("the expired one no longer counts");
    }

    #[test]
    fn failed_logins_lock_the_account_for_a_while() {
        let t0 = Instant::now();
        let mut s = Sessions::new(3);
        for _ in 0..2 {
            assert_eq!(
                s.login("admin", "bad", false, t0, rules()),
                Err(Refusal::BadCredentials)
            );
        }
        assert_eq!(
            s.login("admin", "bad", false, t0, rules()),
            Err(Refusal::Locked),
            "the third failure locks"
        );
        assert_eq!(
            s.login("admin", "pw", true, t0 + Duration::from_secs(10), rules()),
            Err(Refusal::Locked),
            "even the right password waits"
        );
        assert!(
            !s.attempt("admin", true, t0 + Duration::from_secs(10), rules()),
            "basic auth too"
        );
        assert!(
            s.attempt("other", true, t0, rules()),
            "other accounts are unaffected"
        );
        let later = t0 + Duration::from_secs(31);
        s.login("admin", "pw", true, later, rules())
            .expect("unlocked after the lockout period");
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let t0 = Instant::now();
        let mut s = Sessions::new(4);
        assert!(!s.attempt("admin", false, t0, rules()));
        assert!(!s.attempt("admin", false, t0, rules()));
        assert!(s.attempt("admin", true, t0, rules()));
        assert!(!s.attempt("admin", false, t0, rules()));
        assert!(!s.attempt("admin", false, t0, rules()));
        assert!(
            s.attempt("admin", true, t0, rules()),
            "not locked: count restarted"
        );
        let never = Rules {
            lockout_threshold: 0,
            ..rules()
        };
        for _ in 0..100 {
            s.attempt("x", false, t0, never);
        }
        assert!(!s.locked("x", t0));
    }
}
