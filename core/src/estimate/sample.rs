//! Where a seed is read to estimate it: many short regions spread over the whole file,
//! one in each of equal strata, at a pseudo-random place inside it.
//!
//! Many, because what a seed holds of a target comes in stretches (the unchanged parts
//! of a disk image, its zero runs), often longer than a region: then each region sees
//! one kind or the other, and the estimate is off by about `1/(2·√regions)` at worst (3
//! points with 256 regions, under 2 with 1024); and short, because contents a seed holds
//! twice are told by regions that saw both copies, and each such sighting should be of
//! few blocks, not of a whole region's, for their count to be steady. Evenly spread, so that each stretch is
//! seen in proportion to its length. Not at exactly regular places, because a seed can
//! repeat itself at a regular period (two copies of one image), and regions one period
//! apart would all see the same content. The places come from the stratum's number
//! alone, so the same seed is always read at the same places and gets the same estimate.

use std::ops::Range;

/// How a format's seeds are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sampling {
    /// The length of a region: enough blocks or chunks that what is cut off at its ends
    /// costs little.
    pub region: u64,
    /// A big seed is read at `1/share` of its bytes.
    pub share: u64,
    /// And at this many regions at least, whatever its size.
    pub min_regions: u64,
}

/// The regions of a `len`-byte seed to read: ascending and disjoint. The whole seed as
/// one region when the regions would cover half of it or more: reading it all then
/// costs about as much, and sees everything.
pub(crate) fn regions(len: u64, sampling: Sampling) -> Vec<Range<u64>> {
    let region = sampling.region.max(1);
    let Some(count) = strata(len, sampling) else {
        return std::iter::once(0..len).collect();
    };
    (0..count)
        .flat_map(|i| {
            let stratum = stratum_start(i, count, len)..stratum_start(i + 1, count, len);
            in_stratum(stratum, region, scramble(i))
        })
        .collect()
}

/// The region of `region` bytes that starts `at` (any number) bytes into `stratum`,
/// modulo its length, and wraps round to its start: one range, or two. Wrapping makes
/// every byte of the stratum as likely to be read as any other; a region kept whole
/// inside it would read its middle more often than its ends, so that two copies of one
/// content a stratum and a half apart would rarely both be read, and look like two
/// contents held once.
fn in_stratum(stratum: Range<u64>, region: u64, at: u64) -> Vec<Range<u64>> {
    let len = stratum.end - stratum.start;
    let start = stratum.start + at % len;
    let end = start + region;
    if end <= stratum.end {
        std::iter::once(start..end).collect()
    } else {
        vec![
            stratum.start..stratum.start + (end - stratum.end),
            start..stratum.end,
        ]
    }
}

/// How many strata a `len`-byte seed is read in, one region each; `None` when it is read
/// whole.
fn strata(len: u64, sampling: Sampling) -> Option<u64> {
    let region = sampling.region.max(1);
    let count = (len / sampling.share.max(1) / region).max(sampling.min_regions);
    (u128::from(count) * u128::from(region) * 2 < u128::from(len)).then_some(count)
}

/// How likely a stretch of `stretch` bytes of a `len`-byte seed is to be read, at least
/// `needed` of its bytes by one region: a region lands anywhere in its stratum, and
/// reads that much of the stretch if it starts within the stretch's length plus its
/// own, less twice what is needed, of the right place.
pub(crate) fn chance_of_reading(stretch: u64, needed: u64, len: u64, sampling: Sampling) -> f64 {
    let Some(count) = strata(len, sampling) else {
        return 1.0;
    };
    if stretch < needed {
        return 0.0;
    }
    let reach = (stretch + sampling.region.max(1)).saturating_sub(2 * needed);
    (reach as f64 * count as f64 / len as f64).min(1.0)
}

/// The share of a `len`-byte seed that `regions` cover (all of an empty one).
pub(crate) fn share(regions: &[Range<u64>], len: u64) -> f64 {
    if len == 0 {
        return 1.0;
    }
    regions.iter().map(|r| r.end - r.start).sum::<u64>() as f64 / len as f64
}

/// Where stratum `i` of `count` equal strata of `len` bytes starts.
fn stratum_start(i: u64, count: u64, len: u64) -> u64 {
    (u128::from(i) * u128::from(len) / u128::from(count)) as u64
}

/// A well-mixed number from `i` (splitmix64's finaliser): where in its stratum region
/// `i` lies.
fn scramble(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const SAMPLING: Sampling = Sampling {
        region: 64 << 10,
        share: 32,
        min_regions: 256,
    };

    fn total(regions: &[Range<u64>]) -> u64 {
        regions.iter().map(|r| r.end - r.start).sum()
    }

    #[test]
    fn a_gigabyte_is_read_at_a_share_of_it_in_even_strata() {
        let len = 1 << 30;
        let regions = regions(len, SAMPLING);
        assert_eq!(total(&regions), len / 32);
        assert!(regions.windows(2).all(|w| w[0].end < w[1].start));
        let stratum_len = len / 512;
        let mut places = std::collections::HashSet::new();
        for stratum in 0..512 {
            let bounds = stratum * stratum_len..(stratum + 1) * stratum_len;
            let inside: Vec<_> = regions
                .iter()
                .filter(|r| bounds.contains(&r.start))
                .collect();
            assert!(inside.iter().all(|r| r.end <= bounds.end), "{inside:?}");
            assert_eq!(
                total(&inside.iter().map(|&r| r.clone()).collect::<Vec<_>>()),
                64 << 10
            );
            places.insert(inside.last().unwrap().start - bounds.start);
        }
        // Not all at one place of their strata: a seed that repeats itself is not read
        // at the same place of each copy.
        assert!(places.len() > 500, "{} distinct places", places.len());
    }

    #[test]
    fn a_region_that_would_leave_its_stratum_wraps_round_to_its_start() {
        let one = |region: Range<u64>| vec![region];
        assert_eq!(in_stratum(100..200, 30, 10), one(110..140));
        assert_eq!(in_stratum(100..200, 30, 70), one(170..200));
        assert_eq!(in_stratum(100..200, 30, 85), [100..115, 185..200]);
        assert_eq!(in_stratum(100..200, 30, 1099), [100..129, 199..200]);
    }

    #[test]
    fn the_same_seed_is_read_at_the_same_places() {
        assert_eq!(
            regions(3_000_000_007, SAMPLING),
            regions(3_000_000_007, SAMPLING)
        );
    }

    #[test]
    fn smaller_seeds_are_read_at_as_many_places() {
        let regions = regions(100 * MIB, SAMPLING);
        assert!((256..512).contains(&regions.len()), "{}", regions.len());
        assert_eq!(total(&regions), 16 * MIB);
        assert!(regions.windows(2).all(|w| w[0].end <= w[1].start));
        assert!(regions.last().unwrap().end <= 100 * MIB);
    }

    #[test]
    fn a_stretch_is_read_as_often_as_a_region_lands_on_enough_of_it() {
        // 1 GiB in 512 strata of 2 MiB, regions of 64 KiB.
        let chance = |stretch, needed| chance_of_reading(stretch, needed, 1 << 30, SAMPLING);
        assert_eq!(chance(0, 0), 1.0 / 32.0);
        assert_eq!(chance(MIB - (64 << 10), 0), 0.5);
        assert_eq!(chance(MIB, 32 << 10), 0.5);
        assert_eq!(chance(4 * MIB, 4096), 1.0);
        assert_eq!(chance(100, 8192), 0.0, "too short to be told");
        assert_eq!(
            chance_of_reading(100, 8192, MIB, SAMPLING),
            1.0,
            "read whole"
        );
    }

    #[test]
    fn a_seed_that_regions_would_half_cover_is_read_whole() {
        for len in [0, 1, 5000, 32 * MIB] {
            let whole = 0..len;
            assert_eq!(regions(len, SAMPLING), vec![whole], "{len}");
        }
        assert_eq!(total(&regions(32 * MIB + 1, SAMPLING)), 16 * MIB);
    }
}
