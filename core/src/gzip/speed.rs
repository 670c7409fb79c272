//! Decode throughput of the gzip module's inflater, next to flate2's for scale.
//! Ignored by default (it is a measurement, not a check of behaviour); run with
//! `cargo test --release -p deltadrop-core --lib gzip::speed -- --ignored --nocapture`.

use std::io::{Read, Write};
use std::time::Instant;

use crate::gzip::{Compressed, Inflater, Resume};

fn log_text(len: usize) -> Vec<u8> {
    let mut x = 0x853c_49e6_748f_ea9bu64;
    let mut v = Vec::with_capacity(len + 100);
    let mut line = 0u64;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        line += 1;
        let s = format!(
            "{line:09} host-{:02} GET /images/{:x}.img {} {} bytes\n",
            x % 37,
            x >> 40,
            ["200", "206", "304", "404"][(x >> 8) as usize % 4],
            (x >> 20) % 100_000
        );
        v.extend_from_slice(s.as_bytes());
    }
    v.truncate(len);
    v
}

#[test]
#[ignore = "measurement; run explicitly"]
fn gzip_inflate_speed() {
    let data = log_text(64 << 20);
    for level in [1, 6, 9] {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(&data).unwrap();
        let z = e.finish().unwrap();
        let mut best = f64::MAX;
        let mut inf = Inflater::new(&[]);
        for _ in 0..3 {
            let t = Instant::now();
            let mut n = 0u64;
            inf.set_window(&[]);
            inf.inflate_with(
                Compressed::whole(&z),
                Resume::BlockStart { bit: 0 },
                u64::MAX,
                &mut |b| {
                    n += b.len() as u64;
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(n, data.len() as u64);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let t = Instant::now();
        let mut out = Vec::with_capacity(data.len());
        flate2::read::DeflateDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        let reference = t.elapsed().as_secs_f64();
        assert!(out == data);
        let mb = data.len() as f64 / 1e6;
        eprintln!(
            "level {level}: {:.1}% of input; ours {:.0} MB/s, flate2 {:.0} MB/s (output bytes)",
            100.0 * z.len() as f64 / data.len() as f64,
            mb / best,
            mb / reference
        );
    }
}
