//! Campaign fingerprints: spam arrives in waves of one text, lightly varied (another link, another name,
//! look-alike letters). A comment's normalised words (the tokenizer's skeleton, so look-alikes and case
//! are already folded) are cut into overlapping three-word shingles and summarised by MinHash: for each
//! of [`BANDS`] × [`ROWS`] hash functions, the smallest hash of any shingle. Two texts agree on one
//! function's minimum with probability equal to their shingle sets' Jaccard similarity J, so a band of
//! two rows matches with probability J², and at least one of eight bands with 1 − (1 − J²)⁸: 99.5% for a
//! text with one word changed in twenty (J ≈ 0.7), 7.7% for texts sharing a tenth of their shingles,
//! and next to nothing for unrelated comments, which share almost no three-word shingles. Counting sightings per band in the store then finds near-duplicates with one counter
//! increment per band — no comparison against past texts.

/// How many bands the signature is cut into (one store counter each).
pub const BANDS: usize = 8;
/// Hash functions per band.
pub const ROWS: usize = 2;
/// Words per shingle: three keeps common phrases ("thank you for") from tying unrelated comments.
const SHINGLE_WORDS: usize = 3;

/// Where `now_us` falls among fixed windows of `window_us`: the window's index, and the share (in
/// millionths) of the previous window that still lies within the sliding window ending now.
///
/// Sightings are counted per fixed window and the last `window_us` estimated as this window's count plus
/// that share of the previous one's (the usual sliding-window counter). A count kept from a text's
/// first sighting would restart when that window ran out, in the middle of a wave, and let its next
/// `threshold` comments through uncounted; two counters per band do not.
pub fn window_at(window_us: u64, now_us: u64) -> (u64, u64) {
    let window = window_us.max(1);
    let into = now_us % window;
    let share = (u128::from(window - into) * 1_000_000 / u128::from(window)) as u64;
    (now_us / window, share)
}

/// Sightings in the sliding window: this window's, and the previous one's in proportion (see
/// [`window_at`]).
pub fn estimate(this: u64, previous: u64, previous_share: u64) -> u64 {
    let carried = u128::from(previous) * u128::from(previous_share) / 1_000_000;
    this.saturating_add(u64::try_from(carried).unwrap_or(u64::MAX))
}

/// The MinHash signature of the words, `None` when there are fewer than `min_words` (and fewer than one
/// shingle's worth).
pub fn signature(skeleton_words: &str, min_words: usize) -> Option<[u64; BANDS * ROWS]> {
    let words: Vec<&str> = skeleton_words.split_whitespace().collect();
    if words.len() < min_words.max(SHINGLE_WORDS) {
        return None;
    }
    let mut mins = [u64::MAX; BANDS * ROWS];
    for shingle in words.windows(SHINGLE_WORDS) {
        let base = crate::hash::stable_hash(shingle.join(" ").as_bytes());
        for (i, m) in mins.iter_mut().enumerate() {
            *m = (*m).min(mix(base ^ SEEDS[i % SEEDS.len()].wrapping_mul(i as u64 + 1)));
        }
    }
    Some(mins)
}

/// The signature's bands as store keys: `"<band>:<hash of its rows in hex>"`.
pub fn bands(signature: &[u64; BANDS * ROWS]) -> Vec<String> {
    signature
        .chunks(ROWS)
        .enumerate()
        .map(|(b, rows)| {
            let h = rows
                .iter()
                .fold(0u64, |acc, r| mix(acc ^ r).rotate_left(17));
            format!("{b}:{h:016x}")
        })
        .collect()
}

/// Distinct odd constants that make each hash function its own.
const SEEDS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x27d4_eb2f_1656_67c5,
];

/// FNV-1a's bits are poorly mixed for short inputs; MinHash needs hashes that behave as random.
fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sliding_window_carries_the_previous_window_in_proportion() {
        // At a window's start all of the previous one counts; halfway, half; near its end, almost none.
        assert_eq!(window_at(100, 1_000), (10, 1_000_000));
        assert_eq!(window_at(100, 1_050), (10, 500_000));
        assert_eq!(window_at(100, 1_099), (10, 10_000));
        assert_eq!(estimate(2, 10, 500_000), 7);
        assert_eq!(estimate(2, 10, 1_000_000), 12);
        assert_eq!(estimate(u64::MAX, u64::MAX, 1_000_000), u64::MAX);
        // A zero window is treated as the shortest one rather than dividing by zero.
        assert_eq!(window_at(0, 7).0, 7);
    }

    fn bands_of(text: &str) -> Vec<String> {
        bands(&signature(&crate::model::tokenize::skeleton(text), 6).expect("long enough"))
    }

    fn share_a_band(a: &str, b: &str) -> bool {
        bands_of(a).iter().zip(bands_of(b)).any(|(x, y)| *x == y)
    }

    #[test]
    fn a_lightly_varied_text_shares_a_band_and_an_unrelated_one_does_not() {
        let base = "Main di MEGABET99 sekarang, maxwin tiap hari, deposit pulsa tanpa potongan, daftar lewat link di bio ya kak";
        let variants = [
            "Main di 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 sekarang, maxwin tiap hari, deposit pulsa tanpa potongan, daftar lewat link di bio ya kak",
            "Main di MEGABET99 sekarang, maxwin tiap hari, deposit pulsa tanpa potongan, daftar lewat link di bio ya bang",
            "main di megabet99 sekarang maxwin tiap hari deposit pulsa tanpa potongan daftar lewat link di bio ya kak!!",
            "Halo semua, main di MEGABET99 sekarang, maxwin tiap hari, deposit pulsa tanpa potongan, daftar lewat link di bio",
        ];
        for v in variants {
            assert!(share_a_band(base, v), "{v:?}");
        }
        let unrelated = [
            "I disagree with the second point, the bridge was planned long before the election was called.",
            "Terima kasih atas artikelnya, sangat membantu untuk tugas sekolah anak saya minggu ini.",
            "Main game di rumah sekarang lebih seru, tiap hari adik saya minta deposit buat beli buku.",
        ];
        for u in unrelated {
            assert!(!share_a_band(base, u), "{u:?}");
        }
    }

    #[test]
    fn short_texts_are_not_fingerprinted() {
        assert_eq!(signature("thanks great post", 6), None);
        assert!(signature("one two three four five six", 6).is_some());
        assert_eq!(
            bands(&signature("one two three four five six", 6).unwrap()).len(),
            BANDS
        );
    }
}
