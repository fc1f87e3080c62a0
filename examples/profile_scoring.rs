//! Scores one look-alike comment many times, for `perf record` / callgrind. Not a benchmark:
//! `cargo run --release --example profile_scoring` then profile the binary.
use saring::model::tokenize::{Document, Features};
use saring::model::Model;

fn main() {
    let model = Model::load(std::path::Path::new("models/default.model")).expect("model");
    let text = "Sebelumnya bermain di tempat lain terasa kurang inovatif, pindah ke 𝐌𝐄𝐆𝐀𝐁𝐄𝐓𝟗𝟗 lebih puas. \
AЕR𝐎𝟴𝟴 gua main dikit aja, saldo lngsg nambah, wd cepat! coba juga p u l a u w i n, s1tus sl0t gacor \
hari ini maxwin terus, daftar di https://promo.example.com/daftar?ref=88 sekarang 🔥💰";
    let mut t = model.tokenizer();
    let (mut f, mut ids) = (Features::new(), Vec::new());
    let mut sum = 0.0;
    for _ in 0..20_000 {
        sum += model
            .score_document(
                &mut t,
                &Document {
                    text,
                    ..Document::default()
                },
                &mut f,
                &mut ids,
            )
            .log_odds;
    }
    std::hint::black_box(sum);
}
