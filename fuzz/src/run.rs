//! The bounded driver: mutations of the seeds (and some pure noise) fed to
//! a target for a fixed number of iterations, from a fixed PRNG seed.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::mutate::{Rng, mutate};

/// One bounded run of one target.
#[derive(Clone, Copy, Debug)]
pub struct Campaign {
    /// Inputs tried.
    pub iterations: usize,
    /// PRNG seed (a failure names it, so the run can be repeated).
    pub seed: u64,
}

impl Default for Campaign {
    fn default() -> Self {
        Self {
            iterations: 4000,
            seed: 0x5eed_f00d,
        }
    }
}

/// Feeds `target` every seed as is, then `campaign.iterations` mutated or
/// random inputs. A panic in the target is reported with its input (hex)
/// and the campaign, then re-raised so the test fails.
pub fn run(name: &str, target: fn(&[u8]), seeds: &[Vec<u8>], campaign: Campaign) {
    let mut rng = Rng::new(campaign.seed);
    let mut corpus: Vec<Vec<u8>> = seeds.to_vec();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    for seed in seeds {
        attempt(name, target, seed, campaign, None);
    }
    for i in 0..campaign.iterations {
        let input = if rng.below(16) == 0 {
            let len = rng.below(256);
            (0..len).map(|_| rng.byte()).collect()
        } else {
            let base = &corpus[rng.below(corpus.len())];
            let other = &corpus[rng.below(corpus.len())];
            mutate(base, other, &mut rng)
        };
        attempt(name, target, &input, campaign, Some(i));
        // Keep a few mutants to mutate further (a cheap stand-in for coverage).
        if corpus.len() < 256 && rng.below(8) == 0 {
            corpus.push(input);
        }
    }
}

fn attempt(name: &str, target: fn(&[u8]), input: &[u8], campaign: Campaign, i: Option<usize>) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(input))) {
        let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
        let which = i.map_or_else(|| "a seed".to_owned(), |i| format!("iteration {i}"));
        eprintln!(
            "fuzz target {name} panicked on {which} of {campaign:?}; input ({} bytes): {hex}",
            input.len()
        );
        resume_unwind(panic);
    }
}
