//! The mutator: turns one seed into a nearby input.
//!
//! Decoders fail at their edges (a length one past the end, a number too
//! large, an entity cut in half), so inputs start from valid messages the
//! codecs themselves encode and take a few small steps away: bytes flipped,
//! inserted, deleted, ranges duplicated, another seed spliced in, a token
//! from the target's dictionary dropped in. Random bytes alone would almost
//! never get past the first check of a decoder.

use fastrand::Rng;

/// Tokens that often sit on a decoder's edge, whatever the format.
const COMMON: &[&[u8]] = &[
    b"\0",
    b"\r\n",
    b"\r\n\r\n",
    b"%",
    b"%0",
    b"%ff",
    b"&",
    b"&#0;",
    b"&#x1;",
    b"&amp;",
    b"<",
    b">",
    b"</",
    b"<![CDATA[",
    b"]]>",
    b"\"",
    b"'",
    b"=",
    b";",
    b":",
    b"-1",
    b"0",
    b"4294967295",
    b"4294967296",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"\xff\xfe",
    b"\xc3",
    b"\xe2\x80",
];

/// How many steps one input takes away from its seed, at most.
const MAX_STEPS: usize = 6;
/// Inputs grow by duplication; past this they are cut back.
const MAX_LEN: usize = 64 * 1024;

/// A seeded source of inputs for one target.
pub struct Mutator {
    rng: Rng,
    seeds: Vec<Vec<u8>>,
    dictionary: Vec<Vec<u8>>,
}

impl Mutator {
    pub fn new(seed: u64, seeds: Vec<Vec<u8>>, dictionary: &[&[u8]]) -> Mutator {
        assert!(!seeds.is_empty(), "a target needs at least one seed");
        Mutator {
            rng: Rng::with_seed(seed),
            seeds,
            dictionary: COMMON
                .iter()
                .chain(dictionary)
                .map(|t| t.to_vec())
                .collect(),
        }
    }

    /// The next input: a seed, then 1 to MAX_STEPS mutations.
    pub fn next_input(&mut self) -> Vec<u8> {
        let mut input = self.seeds[self.rng.usize(..self.seeds.len())].clone();
        for _ in 0..self.rng.usize(1..=MAX_STEPS) {
            self.step(&mut input);
        }
        input.truncate(MAX_LEN);
        input
    }

    fn step(&mut self, input: &mut Vec<u8>) {
        let len = input.len();
        let at = self.rng.usize(..=len);
        match self.rng.u8(..8) {
            // Flip one bit.
            0 if len > 0 => {
                let i = self.rng.usize(..len);
                input[i] ^= 1 << self.rng.u8(..8);
            }
            // Overwrite one byte.
            1 if len > 0 => {
                let i = self.rng.usize(..len);
                input[i] = self.rng.u8(..);
            }
            // Delete a range.
            2 if len > 0 => {
                let end = (at + self.rng.usize(1..=16)).min(len);
                input.drain(at..end);
            }
            // Duplicate a range in place.
            3 if len > 0 => {
                let start = self.rng.usize(..len);
                let end = (start + self.rng.usize(1..=64)).min(len);
                let copy = input[start..end].to_vec();
                input.splice(at..at, copy);
            }
            // Truncate.
            4 => input.truncate(at),
            // Splice in part of another seed.
            5 => {
                let other = &self.seeds[self.rng.usize(..self.seeds.len())];
                if !other.is_empty() {
                    let start = self.rng.usize(..other.len());
                    let end = (start + self.rng.usize(1..=128)).min(other.len());
                    input.splice(at..at, other[start..end].to_vec());
                }
            }
            // Insert a random byte.
            6 => input.insert(at, self.rng.u8(..)),
            // Insert a dictionary token.
            _ => {
                let token = self.dictionary[self.rng.usize(..self.dictionary.len())].clone();
                input.splice(at..at, token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_inputs_and_they_differ_from_the_seed() {
        let seeds = vec![b"<login><deviceName>SEP1</deviceName></login>".to_vec()];
        let mut a = Mutator::new(7, seeds.clone(), &[]);
        let mut b = Mutator::new(7, seeds.clone(), &[]);
        let inputs: Vec<_> = (0..200).map(|_| a.next_input()).collect();
        assert!(inputs.iter().all(|i| *i == b.next_input()));
        let changed = inputs.iter().filter(|i| **i != seeds[0]).count();
        assert!(changed > 150, "{changed} of 200 differ from the seed");
    }
}
