//! Seeded noise: the only source of randomness in generation, so seeds reproduce bytes.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// `len` samples of a standard normal distribution, fully determined by `seed`
/// (ChaCha8, portable across platforms and releases of Kiln that keep this function).
pub fn gaussian(seed: u64, len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| StandardNormal.sample(&mut rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_noise_other_seed_other_noise() {
        assert_eq!(gaussian(7, 64), gaussian(7, 64));
        assert_ne!(gaussian(7, 64), gaussian(8, 64));
        let samples = gaussian(1, 20_000);
        let mean = samples.iter().sum::<f32>() / samples.len() as f32;
        let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / samples.len() as f32;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "mean {mean} var {var}"
        );
    }
}
