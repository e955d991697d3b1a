//! Shards: one scenario's fleet split over N processes (or Kubernetes
//! pods) that together run exactly the single-process schedule.
//!
//! The single process gives arrival k of the open model to fleet phone
//! `k mod phones`. Shard `i` of `N` owns the phones whose fleet index is
//! `i mod N` and runs exactly the arrivals that fall on them, at the same
//! due times: every shard walks the whole schedule and skips the arrivals
//! of the others, so a `cycles` cap counts every shard's arrivals alike.
//! In the closed model each shard runs its own phones' loops.
//!
//! `--shard K/N` names the shard (K from 1 to N). In a Kubernetes Indexed
//! Job, `--shards N` takes K from `JOB_COMPLETION_INDEX` (0-based). Each
//! shard writes its own report folder; `emlab merge` adds them up.

use serde::{Deserialize, Serialize};

/// The part of a fleet one process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl Shard {
    /// The whole fleet in one process.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// `K/N`, K from 1 to N.
    pub fn parse(spec: &str) -> Result<Shard, String> {
        let bad = || format!("`{spec}`: a shard is K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = spec.split_once('/').ok_or_else(bad)?;
        let (k, n): (u32, u32) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard {
            index: k - 1,
            count: n,
        })
    }

    /// A Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` (0-based) of `count`.
    pub fn from_job_index(index: &str, count: u32) -> Result<Shard, String> {
        let i: u32 = index
            .trim()
            .parse()
            .map_err(|_| format!("JOB_COMPLETION_INDEX `{index}` is not a number"))?;
        if count == 0 || i >= count {
            return Err(format!(
                "JOB_COMPLETION_INDEX {i} is outside 0..{count} (--shards {count})"
            ));
        }
        Ok(Shard { index: i, count })
    }

    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Whether fleet phone `global` is this shard's.
    pub fn owns(&self, global: u64) -> bool {
        global % self.count as u64 == self.index as u64
    }

    /// This shard's `local`-th phone in the whole fleet.
    pub fn global(&self, local: usize) -> u64 {
        local as u64 * self.count as u64 + self.index as u64
    }

    /// Where fleet phone `global` sits among this shard's phones.
    pub fn local(&self, global: u64) -> usize {
        (global / self.count as u64) as usize
    }

    /// How many of `phones` this shard owns.
    pub fn phones_of(&self, phones: u32) -> u32 {
        let (n, i) = (self.count, self.index);
        phones / n + u32::from(phones % n > i)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_phone_once() {
        let shards: Vec<Shard> = (1..=4)
            .map(|k| Shard::parse(&format!("{k}/4")).unwrap())
            .collect();
        for phones in [0u32, 1, 7, 10, 4000] {
            let total: u32 = shards.iter().map(|s| s.phones_of(phones)).sum();
            assert_eq!(total, phones);
        }
        for g in 0..100u64 {
            let owners: Vec<&Shard> = shards.iter().filter(|s| s.owns(g)).collect();
            assert_eq!(owners.len(), 1);
            assert_eq!(owners[0].global(owners[0].local(g)), g);
        }
    }

    #[test]
    fn bad_specs_say_what_a_shard_is() {
        for bad in ["0/4", "5/4", "1/0", "x/4", "3", "-1/2"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.contains("K/N with 1 <= K <= N"), "{e}");
        }
        assert_eq!(Shard::parse("2/4").unwrap().to_string(), "2/4");
        assert_eq!(
            Shard::from_job_index("3", 4).unwrap(),
            Shard::parse("4/4").unwrap()
        );
        assert!(
            Shard::from_job_index("4", 4)
                .unwrap_err()
                .contains("outside 0..4")
        );
    }
}
