//! From what the samples of a seed saw to an estimate for the whole seed.
//!
//! What a scan takes from a seed is counted in *contents*: a block or chunk of the
//! target, with all the target's blocks that have those bytes (a seed with one zero
//! block fills every zero block of the target). The samples see some of the contents
//! the seed holds; the question is how many they missed. Scaling what they saw by the
//! share read is right when the seed holds each content as often as the target does, and
//! far off when it holds contents more often (a file copied twice): those are seen again
//! and again, and once seen are all there is. So each content counts by how often the
//! samples saw it, in how many regions (copies one region holds were read together, and
//! tell no more than one):
//!
//! - Seen three times or more (zero runs, padding, a pattern the target repeats): the
//!   seed surely holds it, and the samples would hardly have missed a content like it.
//!   It counts for the target bytes it fills, unscaled.
//! - Seen once or twice, and the target holds it several times: each sighting stands for
//!   its share of the content (the seed, a version of the target, holds it about as
//!   often), scaled by the share of the seed read (Horvitz-Thompson).
//! - Seen once or twice, and the target holds it once (most of any file): how often such
//!   contents were seen twice tells how often the seed holds them, and the estimator is
//!   the one for a sample drawn without replacement (Chao and Lin, "Nonparametric lower
//!   bounds for species richness and shared species richness under sampling without
//!   replacement", Biometrics 68, 2012): with `q` the share of the seed read, `f1` and
//!   `f2` the bytes of contents seen exactly once and twice, the bytes missed are
//!
//!   ```text
//!   f1² / (2·f2 + q/(1−q)·f1)
//!   ```
//!
//!   When the seed holds each once, `f2` is about 0 and this is `f1·(1−q)/q`: plain
//!   scaling. When it holds each `k` times, it is `(1−q)^k` of them, which is what
//!   sampling misses.
//! - A pattern (a stretch that repeats a few bytes over and over, so that its windows
//!   hold many contents at once, all from one place) counts as a whole, scaled by the
//!   chance of seeing a stretch as long as the one it was seen in.
//!
//! Everything is summed in whole bytes, so the estimate does not depend on the order
//! contents are added in (threads merge them in any order).

/// Seen this many times or more, a content is counted as it is.
pub(super) const SURE: u64 = 3;

/// What the samples of one seed saw, in target bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Of the contents seen `SURE` times or more.
    sure: u64,
    /// Of contents the target holds several times, seen once or twice.
    shared: u64,
    /// The same, the share of the content each sighting stands for, summed over
    /// sightings.
    shared_sightings: u64,
    /// Of contents the target holds once, seen exactly once.
    once: u64,
    /// Of contents the target holds once, seen exactly twice.
    twice: u64,
    /// Of the patterns seen, each scaled by the chance of seeing it.
    patterns: u64,
}

impl Tally {
    /// Adds a content of the target the samples saw `hits` times (in that many regions:
    /// copies a region holds are read together and tell no more than one), which the
    /// target holds `copies` times, filling `bytes` in all.
    pub fn add(&mut self, hits: u64, bytes: u64, copies: u64) {
        match hits {
            0 => {}
            _ if hits >= SURE => self.sure += bytes,
            _ if copies > 1 => {
                self.shared += bytes;
                self.shared_sightings += hits * (bytes / copies);
            }
            1 => self.once += bytes,
            _ => self.twice += bytes,
        }
    }

    /// Adds a pattern the samples saw (a stretch of the seed that repeats a short run of
    /// bytes over and over, all its windows holding target blocks): its contents fill
    /// `bytes` of the target, and a stretch like it is seen with probability `chance`
    /// (Horvitz-Thompson, as a whole: the seed holds its contents over and over in one
    /// place, not here and there).
    pub fn add_pattern(&mut self, bytes: u64, chance: f64) {
        let scaled = (bytes as f64 / chance).round() as u64;
        self.patterns = self.patterns.saturating_add(scaled);
    }

    /// The target bytes the whole seed holds, estimated from samples that could see a
    /// share `sampled` (0 to 1) of its blocks or chunks.
    pub fn estimate(&self, sampled: f64) -> u64 {
        let seen = self.sure + self.shared + self.once + self.twice;
        // Read whole (or, with nothing to read, not at all): what was seen is all there is.
        if sampled <= 0.0 || sampled >= 1.0 {
            return seen + self.patterns;
        }
        // Shared contents seen are all there (the seed may hold them less often than the
        // target does), and stand for those not seen.
        let shared = (self.shared_sightings as f64 / sampled).max(self.shared as f64);
        let (once, twice) = (self.once as f64, self.twice as f64);
        let missed = if self.once == 0 {
            0.0
        } else {
            once * once / (2.0 * twice + sampled / (1.0 - sampled) * once)
        };
        seen - self.shared + self.patterns + (shared + missed).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What samples of share `q` see, on average, of `contents` contents of one block
    /// (1000 bytes) each, held once by the target and `copies` times by the seed: each
    /// copy is read with probability `q`, so a content is seen `k` times with the
    /// binomial probability.
    fn expected(contents: u64, copies: u32, q: f64) -> Tally {
        let mut tally = Tally::default();
        for k in 1..=copies.min(2) {
            let choose = (0..k).fold(1.0, |c, i| c * f64::from(copies - i) / f64::from(i + 1));
            let p = choose * q.powi(k as i32) * (1.0 - q).powi((copies - k) as i32);
            let bytes = (contents as f64 * p * 1000.0).round() as u64;
            tally.add(u64::from(k), bytes, 1);
        }
        tally
    }

    fn assert_near(got: u64, want: u64) {
        let off = got.abs_diff(want) as f64 / want as f64;
        assert!(off < 0.02, "{got} vs {want}");
    }

    #[test]
    fn contents_held_once_are_scaled_by_the_share_read() {
        for q in [0.03, 0.25, 0.5] {
            let tally = expected(10_000, 1, q);
            assert_near(tally.estimate(q), 10_000_000);
        }
    }

    #[test]
    fn contents_the_seed_holds_several_times_are_not_scaled_up_as_if_each_were_new() {
        // A seed that is the same half of the target twice or four times over: read at
        // 3% it looks as if it held the target, but holds half of it. (Contents seen
        // three times or more are counted as they are; at 3% there are few.)
        for copies in [2, 4] {
            let tally = expected(10_000, copies, 0.03);
            assert_near(tally.estimate(0.03), 10_000_000);
            assert!(
                tally.once as f64 / 0.03 > 1.5 * 10_000_000.0,
                "plain scaling would be far off"
            );
        }
    }

    #[test]
    fn contents_the_target_holds_several_times_count_each_sighting_for_its_share() {
        // 100 contents of 2 blocks (2 KiB in all) each, seen once each at 1/4: each
        // sighting stands for a block's worth of the seed, scaled.
        let mut tally = Tally::default();
        for _ in 0..100 {
            tally.add(1, 2048, 2);
        }
        assert_eq!(tally.estimate(0.25), 2 * 100 * 2048);
        assert_eq!(tally.estimate(1.0), 100 * 2048, "read whole: what was seen");
        // Scaled to less than was seen (the seed holds them less often than the target
        // does): what was seen.
        assert_eq!(tally.estimate(0.9), 100 * 2048);
    }

    #[test]
    fn a_pattern_counts_scaled_by_the_chance_of_seeing_one_like_it() {
        let mut tally = Tally::default();
        tally.add_pattern(64_000, 0.25);
        tally.add(1, 1000, 1);
        assert_eq!(tally.estimate(0.1), 256_000 + 10_000);
    }

    #[test]
    fn contents_seen_often_count_as_they_are() {
        // The target's zero blocks (4 MB of it), seen 40 times, and 10 blocks seen once.
        let mut tally = Tally::default();
        tally.add(40, 4_000_000, 1000);
        for _ in 0..10 {
            tally.add(1, 4096, 1);
        }
        assert_eq!(tally.estimate(0.1), 4_000_000 + 409_600);
    }

    #[test]
    fn a_seed_read_whole_or_not_at_all_is_what_was_seen() {
        let mut tally = Tally::default();
        assert_eq!(tally.estimate(0.05), 0);
        tally.add(1, 100, 1);
        tally.add(2, 50, 1);
        assert_eq!(tally.estimate(1.0), 150);
        assert_eq!(tally.estimate(0.0), 150);
    }
}
