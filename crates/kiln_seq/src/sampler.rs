//! Seeded token sampling.

use kiln_recipe::Sampling;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Draws tokens from logits by a recipe's [`Sampling`], reproducibly from a seed.
#[derive(Clone, Debug)]
pub struct Sampler {
    settings: Sampling,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler whose draws depend only on `seed` (ChaCha8, portable).
    pub fn new(settings: Sampling, seed: u64) -> Self {
        Self {
            settings,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A sampler with the same settings and a seed drawn from this one's: for draws made side
    /// by side, each reproducible from this sampler's seed.
    pub fn fork(&mut self) -> Self {
        Self::new(self.settings, self.rng.random())
    }

    /// Picks the next token from `logits`, penalising tokens in `history` and never choosing
    /// one that `allowed` rejects. `None` when `allowed` rejects every token.
    pub fn sample(
        &mut self,
        logits: &[f32],
        history: &[u32],
        allowed: &dyn Fn(u32) -> bool,
    ) -> Option<u32> {
        self.sample_checked(logits, history, allowed, &mut |_| true)
    }

    /// Like [`Sampler::sample`], and the drawn token must also pass `accept`: one that fails is
    /// masked and the draw made again, as if `allowed` had rejected it (for checks too costly to
    /// run on every token). `None` when no token passes both.
    pub fn sample_checked(
        &mut self,
        logits: &[f32],
        history: &[u32],
        allowed: &dyn Fn(u32) -> bool,
        accept: &mut dyn FnMut(u32) -> bool,
    ) -> Option<u32> {
        let penalty = self.settings.repetition_penalty;
        let mut seen = vec![false; logits.len()];
        if penalty != 1.0 {
            for &token in history {
                if let Some(flag) = seen.get_mut(token as usize) {
                    *flag = true;
                }
            }
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(token, &logit)| (token as u32, logit))
            .filter(|&(token, logit)| logit.is_finite() && allowed(token))
            .map(|(token, logit)| {
                // CTRL-style penalty: shrink positive logits, push negative ones further down.
                let logit = match (seen[token as usize], logit > 0.0) {
                    (true, true) => logit / penalty,
                    (true, false) => logit * penalty,
                    (false, _) => logit,
                };
                (token, logit)
            })
            .collect();
        if self.settings.temperature == 0.0 {
            loop {
                let &(token, _) = candidates.iter().min_by(|a, b| order(a, b))?;
                if accept(token) {
                    return Some(token);
                }
                candidates.retain(|&(candidate, _)| candidate != token);
            }
        }
        let top_k = match self.settings.top_k as usize {
            0 => usize::MAX,
            k => k,
        };
        // Only the k best are drawn from: `candidates[..sorted]` are kept in order and are all
        // better than the rest. A rejected token leaves them; when fewer than k remain, the
        // next CHUNK best are selected and sorted (same tokens, same order as sorting all of
        // them, without sorting 4,096 candidates where one rejection is the common case).
        let mut sorted = 0;
        loop {
            let top_k = top_k.min(candidates.len());
            if top_k == 0 {
                return None;
            }
            if sorted < top_k {
                let end = match sorted {
                    0 => top_k,
                    _ => (sorted + CHUNK).max(top_k).min(candidates.len()),
                };
                let rest = &mut candidates[sorted..];
                if end - sorted < rest.len() {
                    rest.select_nth_unstable_by(end - sorted - 1, order);
                }
                candidates[sorted..end].sort_unstable_by(order);
                sorted = end;
            }
            let token = self.draw(&candidates[..top_k]);
            if accept(token) {
                return Some(token);
            }
            let at = candidates[..top_k]
                .iter()
                .position(|&(candidate, _)| candidate == token)
                .unwrap_or_else(|| unreachable!("the drawn token is one of the k best"));
            candidates.remove(at);
            sorted -= 1;
        }
    }

    /// One draw from the k best `candidates`, in [`order`], by temperature and top-p.
    fn draw(&mut self, candidates: &[(u32, f32)]) -> u32 {
        let max = candidates[0].1;
        let mut weights: Vec<f64> = candidates
            .iter()
            .map(|&(_, logit)| f64::from((logit - max) / self.settings.temperature).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut cumulative = 0.0;
        let keep = weights
            .iter()
            .position(|w| {
                cumulative += w / total;
                cumulative >= f64::from(self.settings.top_p)
            })
            .map_or(weights.len(), |last| last + 1);
        weights.truncate(keep);
        let total: f64 = weights.iter().sum();
        let mut draw = self.rng.random::<f64>() * total;
        for (&(token, _), weight) in candidates.iter().zip(&weights) {
            if draw < *weight {
                return token;
            }
            draw -= weight;
        }
        candidates[weights.len() - 1].0
    }
}

/// How many more candidates are put in order at a time once rejections have used up the k best.
const CHUNK: usize = 64;

/// Highest logit first; ties by token id, so the order is total and never depends on the sort.
fn order(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_recipe::Bounded;

    fn settings(temperature: f32, top_k: u32, top_p: f32, penalty: f32) -> Sampling {
        Sampling {
            temperature,
            top_k,
            top_p,
            repetition_penalty: penalty,
            max_tokens: Bounded::new(10).expect("bounded"),
        }
    }

    const LOGITS: [f32; 5] = [1.0, 3.0, 2.5, 0.5, -1.0];

    fn draws(settings: Sampling, seed: u64, history: &[u32]) -> Vec<u32> {
        let mut sampler = Sampler::new(settings, seed);
        (0..200)
            .map(|_| sampler.sample(&LOGITS, history, &|_| true).expect("token"))
            .collect()
    }

    #[test]
    fn zero_temperature_is_greedy_and_the_penalty_can_change_the_winner() {
        assert_eq!(draws(settings(0.0, 0, 1.0, 1.0), 1, &[]), vec![1; 200]);
        // 3.0 / 1.5 = 2.0 < 2.5: the repeated token loses.
        assert_eq!(draws(settings(0.0, 0, 1.0, 1.5), 1, &[1])[0], 2);
    }

    #[test]
    fn top_k_and_top_p_limit_the_candidates() {
        let top2 = draws(settings(1.0, 2, 1.0, 1.0), 3, &[]);
        assert!(top2.iter().all(|t| [1, 2].contains(t)), "{top2:?}");
        assert!(top2.contains(&1) && top2.contains(&2));
        // p(1) ~ 0.51 at temperature 1: top_p 0.5 keeps token 1 alone.
        assert!(
            draws(settings(1.0, 0, 0.5, 1.0), 3, &[])
                .iter()
                .all(|&t| t == 1)
        );
    }

    #[test]
    fn same_seed_same_tokens_other_seed_other_tokens() {
        let s = settings(1.0, 0, 1.0, 1.0);
        assert_eq!(draws(s, 9, &[]), draws(s, 9, &[]));
        assert_ne!(draws(s, 9, &[]), draws(s, 10, &[]));
    }

    #[test]
    fn rejected_tokens_are_never_drawn() {
        let mut sampler = Sampler::new(settings(1.0, 0, 1.0, 1.0), 4);
        let picks: Vec<u32> = (0..100)
            .map(|_| sampler.sample(&LOGITS, &[], &|t| t >= 3).expect("token"))
            .collect();
        assert!(picks.iter().all(|t| [3, 4].contains(t)), "{picks:?}");
        assert_eq!(sampler.sample(&LOGITS, &[], &|_| false), None);
    }

    #[test]
    fn many_rejections_draw_what_sorting_every_candidate_draws() {
        // 300 logits, top-k 5: rejecting the 150 best uses up the k best many times over.
        let logits: Vec<f32> = (0..300).map(|i| ((i * 37) % 300) as f32 / 30.0).collect();
        let accept = |t: u32| logits[t as usize] < 5.0;
        let s = settings(1.0, 5, 0.9, 1.0);
        for seed in 0..20 {
            let checked =
                Sampler::new(s, seed).sample_checked(&logits, &[], &|_| true, &mut |t| accept(t));
            // The plain way: all candidates in order, each draw from the first k, a rejected
            // token removed.
            let mut reference = Sampler::new(s, seed);
            let mut all: Vec<(u32, f32)> = (0..300).map(|t| (t, logits[t as usize])).collect();
            all.sort_unstable_by(order);
            let expected = loop {
                let token = reference.draw(&all[..5]);
                if accept(token) {
                    break token;
                }
                all.retain(|&(t, _)| t != token);
            };
            assert_eq!(checked, Some(expected), "seed {seed}");
        }
    }

    #[test]
    fn a_token_that_fails_the_check_is_drawn_as_if_masked() {
        let s = settings(1.0, 2, 1.0, 1.0);
        let mut sampler = Sampler::new(s, 5);
        let mut drawn = Vec::new();
        for _ in 0..50 {
            let mut asked = Vec::new();
            let token = sampler.sample_checked(&LOGITS, &[], &|_| true, &mut |t| {
                asked.push(t);
                t != 1
            });
            // Top-2 is tokens 1 and 2; with 1 masked it is 2 and 0, and 1 is not asked twice.
            assert!([0, 2].contains(&token.expect("token")), "{token:?}");
            assert!(asked.len() <= 2 && asked[asked.len() - 1] != 1, "{asked:?}");
            drawn.extend(asked);
        }
        assert!([0, 1, 2].iter().all(|t| drawn.contains(t)), "{drawn:?}");
        let mut never = Sampler::new(s, 5);
        assert_eq!(
            never.sample_checked(&LOGITS, &[], &|_| true, &mut |_| false),
            None
        );
    }
}
