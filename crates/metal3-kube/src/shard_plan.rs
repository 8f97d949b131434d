//! Pure logic of sharding hosts across replicas: which shard an object belongs to, and what a
//! replica does next with the shard Leases it sees (take free ones, give back surplus).
//!
//! Shards are numbered `0..count`. An object belongs to shard
//! `fnv1a64("<namespace>/<name>") mod count` — FNV-1a (64-bit, offset basis
//! 0xcbf29ce484222325, prime 0x100000001b3) over the UTF-8 bytes. This function is part of the
//! on-cluster contract: replicas of different versions must agree on it, so it must never
//! change (Rust's `DefaultHasher` is seeded per process and would not do).

use std::collections::BTreeMap;

/// FNV-1a, 64 bits, over `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The shard of the object `namespace/name` among `count` shards (`count` 0 is taken as 1).
pub fn shard_of(namespace: &str, name: &str, count: u32) -> u32 {
    let key = format!("{namespace}/{name}");
    (fnv1a64(key.as_bytes()) % u64::from(count.max(1))) as u32
}

/// One shard Lease as a replica sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardView {
    /// Who holds it; `None` when nobody does (released, or never taken).
    pub holder: Option<String>,
    /// Whether the holder's Lease ran out (not renewed within its duration).
    pub expired: bool,
}

/// What one replica sees: the shard Leases by index (a missing index has no Lease yet) and
/// the live replicas (their membership Leases not expired; this replica among them).
#[derive(Clone, Debug, Default)]
pub struct View {
    pub count: u32,
    pub shards: BTreeMap<u32, ShardView>,
    pub live: Vec<String>,
}

/// What a replica does next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Free or expired shards to take, lowest first.
    pub acquire: Vec<u32>,
    /// Shards of ours to give back (surplus), highest first.
    pub release: Vec<u32>,
}

impl View {
    fn holder(&self, shard: u32) -> Option<&str> {
        self.shards
            .get(&shard)
            .filter(|s| !s.expired)
            .and_then(|s| s.holder.as_deref())
    }

    /// How many live shards each live replica holds.
    fn load(&self) -> BTreeMap<&str, u32> {
        let mut load: BTreeMap<&str, u32> = self.live.iter().map(|m| (m.as_str(), 0)).collect();
        for shard in 0..self.count {
            if let Some(h) = self.holder(shard)
                && let Some(n) = load.get_mut(h)
            {
                *n += 1;
            }
        }
        load
    }
}

/// The next step of replica `me`, which holds at most `ceil(count / live)` shards:
/// - below that, it takes free shards (no holder, or an expired Lease) up to it;
/// - above it (more replicas came up), it gives back the surplus;
/// - when no shard is free and some live replica holds fewer than `floor(count / live)`
///   while `me` holds more than that, it gives one back, so the needy replica can take it
///   (4 shards on 3 replicas settle at 2/1/1, never 2/2/0).
///
/// A shard held by a replica that is not live (no membership Lease) is left alone until its
/// own Lease expires: the membership Lease and the shard Leases run out together.
pub fn plan(view: &View, me: &str) -> Plan {
    let live = view.live.len().max(1) as u32;
    let count = view.count.max(1);
    let ceil = count.div_ceil(live);
    let floor = count / live;
    let mine: Vec<u32> = (0..count).filter(|s| view.holder(*s) == Some(me)).collect();
    let held = mine.len() as u32;
    let free: Vec<u32> = (0..count).filter(|s| view.holder(*s).is_none()).collect();
    if held > ceil {
        let surplus = (held - ceil) as usize;
        return Plan {
            acquire: vec![],
            release: mine.iter().rev().take(surplus).copied().collect(),
        };
    }
    if held < ceil && !free.is_empty() {
        let want = (ceil - held) as usize;
        return Plan {
            acquire: free.into_iter().take(want).collect(),
            release: vec![],
        };
    }
    let needy = view
        .load()
        .iter()
        .any(|(m, n)| *m != me && *n < floor.max(1) && *n < ceil);
    if free.is_empty() && needy && held > floor.max(1) {
        return Plan {
            acquire: vec![],
            release: mine.last().copied().into_iter().collect(),
        };
    }
    Plan::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(count: u32, holders: &[(u32, &str)], live: &[&str]) -> View {
        View {
            count,
            shards: holders
                .iter()
                .map(|(s, h)| {
                    (
                        *s,
                        ShardView {
                            holder: Some(h.to_string()),
                            expired: false,
                        },
                    )
                })
                .collect(),
            live: live.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        // Test vectors of the FNV reference (isthe.com/chongo/tech/comp/fnv).
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shard_of_is_stable_and_in_range() {
        // Pinned values: changing the function would move hosts between shards of replicas
        // running different versions.
        assert_eq!(shard_of("metal3", "host-0", 4), 1);
        let pinned: Vec<u32> = (0..8)
            .map(|i| shard_of("default", &format!("worker-{i}"), 4))
            .collect();
        assert_eq!(pinned, vec![0, 3, 2, 1, 0, 3, 2, 1]);
        assert_eq!(shard_of("a", "b", 0), 0, "0 shards is one shard");
        assert_eq!(shard_of("a", "b", 1), 0);
        // The namespace is part of the key.
        let spread: std::collections::BTreeSet<u32> = (0..64)
            .map(|i| shard_of(&format!("ns-{i}"), "h", 4))
            .collect();
        assert_eq!(spread.len(), 4, "64 namespaces cover the 4 shards");
    }

    #[test]
    fn shard_of_spreads_evenly() {
        let mut counts = [0u32; 4];
        for i in 0..10_000 {
            counts[shard_of("fleet", &format!("host-{i:05}"), 4) as usize] += 1;
        }
        for c in counts {
            assert!((2300..=2700).contains(&c), "uneven spread {counts:?}");
        }
    }

    #[test]
    fn a_lone_replica_takes_every_shard() {
        let p = plan(&view(4, &[], &["a"]), "a");
        assert_eq!(p.acquire, vec![0, 1, 2, 3]);
        assert!(p.release.is_empty());
    }

    #[test]
    fn a_replica_takes_free_shards_up_to_its_share() {
        let p = plan(&view(4, &[(0, "a"), (1, "a")], &["a", "b"]), "b");
        assert_eq!(p.acquire, vec![2, 3]);
        let p = plan(&view(4, &[(0, "a")], &["a", "b", "c"]), "b");
        assert_eq!(p.acquire, vec![1, 2], "ceil(4/3) = 2");
    }

    #[test]
    fn expired_leases_are_free() {
        let mut v = view(2, &[(0, "dead"), (1, "a")], &["a"]);
        v.shards.get_mut(&0).expect("shard 0").expired = true;
        assert_eq!(plan(&v, "a").acquire, vec![0]);
    }

    #[test]
    fn a_shard_of_a_departed_replica_waits_for_its_lease() {
        // "dead" has no membership any more, but its shard Lease still runs.
        let v = view(2, &[(0, "dead"), (1, "a")], &["a"]);
        assert_eq!(plan(&v, "a"), Plan::default());
    }

    #[test]
    fn surplus_is_given_back_when_replicas_join() {
        let all = [(0, "a"), (1, "a"), (2, "a"), (3, "a")];
        let p = plan(&view(4, &all, &["a", "b"]), "a");
        assert_eq!(p.release, vec![3, 2]);
        assert!(p.acquire.is_empty());
        // The newcomer waits: nothing is free yet.
        assert_eq!(plan(&view(4, &all, &["a", "b"]), "b"), Plan::default());
    }

    #[test]
    fn a_replica_left_with_nothing_gets_one() {
        let v = view(
            4,
            &[(0, "a"), (1, "a"), (2, "b"), (3, "b")],
            &["a", "b", "c"],
        );
        assert_eq!(plan(&v, "a").release, vec![1]);
        assert_eq!(plan(&v, "b").release, vec![3]);
        assert_eq!(plan(&v, "c"), Plan::default());
    }

    #[test]
    fn a_balanced_split_is_left_alone() {
        let v = view(
            4,
            &[(0, "a"), (1, "a"), (2, "b"), (3, "c")],
            &["a", "b", "c"],
        );
        for m in ["a", "b", "c"] {
            assert_eq!(plan(&v, m), Plan::default(), "{m}");
        }
        let v = view(4, &[(0, "a"), (1, "a"), (2, "b"), (3, "b")], &["a", "b"]);
        assert_eq!(plan(&v, "a"), Plan::default());
    }

    #[test]
    fn more_replicas_than_shards() {
        let v = view(2, &[(0, "a"), (1, "b")], &["a", "b", "c"]);
        for m in ["a", "b", "c"] {
            assert_eq!(plan(&v, m), Plan::default(), "{m}");
        }
        let v = view(2, &[(0, "a"), (1, "a")], &["a", "b", "c"]);
        assert_eq!(plan(&v, "a").release, vec![1], "ceil(2/3) = 1");
    }
}
