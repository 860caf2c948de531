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
        let mut seen = Vec::new();
        if penalty != 1.0 {
            seen.resize(logits.len(), false);
            for &token in history {
                if let Some(flag) = seen.get_mut(token as usize) {
                    *flag = true;
                }
            }
        }
        // CTRL-style penalty: shrink positive logits, push negative ones further down.
        let penalised = |token: usize, logit: f32| match (seen.get(token), logit > 0.0) {
            (Some(true), true) => logit / penalty,
            (Some(true), false) => logit * penalty,
            _ => logit,
        };
        let top_k = match self.settings.top_k as usize {
            0 => usize::MAX,
            k => k,
        };
        // The common case first: the k best allowed tokens kept in order in one pass, a token
        // that cannot beat the k-th best so far skipped before `allowed` is asked. Draws from
        // them are the draws the full list below makes; only when rejections leave fewer than
        // k of an incomplete set does it go on to the full list, without the rejected tokens.
        let mut rejected = Vec::new();
        if self.settings.temperature != 0.0 && top_k <= FEW_BEST {
            let mut best: Vec<(u32, f32)> = Vec::with_capacity(top_k + 1);
            // Tokens come in rising order, so one whose logit ties the k-th best's comes after
            // it in [`order`]: it is beaten when its key is at most that one's.
            // A whole run of LANES tokens is skipped at once when none of them beats it (one
            // vectorised max), which most runs of a large vocabulary are. A penalty of 1 or
            // more only lowers logits, so the raw ones decide that.
            let mut worst = i32::MIN;
            for (run, chunk) in logits.chunks(LANES).enumerate() {
                if penalty >= 1.0 && best.len() == top_k && run_key(chunk) <= worst {
                    continue;
                }
                for (offset, &logit) in chunk.iter().enumerate() {
                    let token = run * LANES + offset;
                    if !logit.is_finite() {
                        continue;
                    }
                    let logit = penalised(token, logit);
                    if best.len() == top_k && order_key(logit) <= worst || !allowed(token as u32) {
                        continue;
                    }
                    let candidate = (token as u32, logit);
                    let at = best.partition_point(|kept| order(kept, &candidate).is_lt());
                    best.insert(at, candidate);
                    best.truncate(top_k);
                    if let Some(&(_, logit)) = best.last() {
                        worst = order_key(logit);
                    }
                }
            }
            // Every token was asked while fewer than k were kept: then these are all there are.
            let all = best.len() < top_k;
            while all || best.len() == top_k {
                if best.is_empty() {
                    return None;
                }
                let token = self.draw(&best);
                if accept(token) {
                    return Some(token);
                }
                best.retain(|&(candidate, _)| candidate != token);
                rejected.push(token);
            }
        }
        let mut candidates: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|&(token, logit)| {
                logit.is_finite() && !rejected.contains(&(token as u32)) && allowed(token as u32)
            })
            .map(|(token, &logit)| (token as u32, penalised(token, logit)))
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

/// Tokens the one-pass scan of [`Sampler::sample_checked`] skips at once when none beats the k-th best.
const LANES: usize = 16;
/// How many more candidates are put in order at a time once rejections have used up the k best.
const CHUNK: usize = 64;
/// Largest top-k whose k best are kept in order in one pass over the logits ([`Sampler::sample_checked`]).
const FEW_BEST: usize = 256;

/// Highest logit first; ties by token id, so the order is total and never depends on the sort.
fn order(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The largest [`order_key`] of a run of logits (a whole run of [`LANES`] in one vectorised max).
fn run_key(run: &[f32]) -> i32 {
    let key = |keys: i32, &logit: &f32| keys.max(order_key(logit));
    match <&[f32; LANES]>::try_from(run) {
        Ok(lanes) => lanes.iter().fold(i32::MIN, key),
        Err(_) => run.iter().fold(i32::MIN, key),
    }
}

/// An integer that orders logits as [`f32::total_cmp`] does (its own bit trick), for the
/// one-pass scan's comparison with the k-th best.
fn order_key(logit: f32) -> i32 {
    let bits = logit.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
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

    /// The sampling rule as written, slowly: all allowed tokens in order, a draw from the k
    /// best, a rejected token removed and the draw made again.
    fn reference(
        sampler: &mut Sampler,
        logits: &[f32],
        history: &[u32],
        allowed: &dyn Fn(u32) -> bool,
        accept: &mut dyn FnMut(u32) -> bool,
    ) -> Option<u32> {
        let settings = sampler.settings;
        let mut candidates: Vec<(u32, f32)> = (0..logits.len() as u32)
            .filter(|&t| logits[t as usize].is_finite() && allowed(t))
            .map(|t| {
                let logit = logits[t as usize];
                let seen = history.contains(&t);
                let penalty = settings.repetition_penalty;
                let logit = match (seen, logit > 0.0) {
                    (true, true) => logit / penalty,
                    (true, false) => logit * penalty,
                    (false, _) => logit,
                };
                (t, logit)
            })
            .collect();
        candidates.sort_by(order);
        loop {
            let k = match settings.top_k {
                0 => candidates.len(),
                k => (k as usize).min(candidates.len()),
            };
            if k == 0 {
                return None;
            }
            let token = sampler.draw(&candidates[..k]);
            if accept(token) {
                return Some(token);
            }
            candidates.retain(|&(t, _)| t != token);
        }
    }

    #[test]
    fn draws_are_those_of_the_rule_as_written() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for case in 0..300_u64 {
            let top_k = [0, 1, 3, 40, 300][case as usize % 5];
            // Below 1 (which recipes refuse) a penalty raises logits: the scan must not skip on raw ones.
            let penalty = [1.3, 1.0, 0.8][case as usize / 5 % 3];
            let sampling = settings(0.8, top_k, 0.95, penalty);
            // Every fourth case in steps of a quarter, so that many logits tie; zeros of
            // both signs.
            let steps = case % 4 == 1;
            let logits: Vec<f32> = (0..600)
                .map(|t| match t % 97 {
                    0 => f32::NEG_INFINITY,
                    13 => 0.0,
                    29 => -0.0,
                    _ if steps => (rng.random_range(-4.0..4.0_f32) * 4.0).round() / 4.0,
                    _ => rng.random_range(-4.0..4.0_f32),
                })
                .collect();
            let history: Vec<u32> = (0..20).map(|_| rng.random_range(0..600)).collect();
            // Some tokens not allowed; many rejected when drawn, and in every third case all but
            // 12 of 600, which uses up the k best many times over.
            let banned = rng.random_range(0..600_u32);
            let allowed = |t: u32| t % 7 != banned % 7;
            let strict = case % 3 == 0;
            let accept = |t: u32| {
                if strict {
                    t % 50 == 1
                } else {
                    !t.is_multiple_of(3)
                }
            };
            let (mut fast, mut slow) = (Sampler::new(sampling, case), Sampler::new(sampling, case));
            for _ in 0..5 {
                assert_eq!(
                    fast.sample_checked(&logits, &history, &allowed, &mut { accept }),
                    reference(&mut slow, &logits, &history, &allowed, &mut { accept }),
                    "case {case}, top_k {top_k}"
                );
            }
        }
    }

    #[test]
    fn order_keys_order_logits_as_total_cmp() {
        let values = [
            f32::NEG_INFINITY,
            -3.5,
            -1e-30,
            -0.0,
            0.0,
            1e-30,
            0.25,
            2.0,
            f32::MAX,
            f32::INFINITY,
        ];
        for a in values {
            for b in values {
                assert_eq!(
                    order_key(a).cmp(&order_key(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
            }
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
