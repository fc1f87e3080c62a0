#!/usr/bin/env bash
# The model-quality evaluation: 5-fold cross-validation by (source, group) over the shared corpora, failing
# when a quality bar of issue 2 is missed. Needs ../shared/data/corpus (CI always has it).
set -euo pipefail
cd "$(dirname "$0")/.."

corpus=${SARING_CORPUS:-../shared/data/corpus}
if [ ! -d "$corpus" ]; then
  echo "no corpus at $corpus: set SARING_CORPUS to the folder of labelled JSONL files" >&2
  exit 1
fi

# The shipped model's card must name exactly these corpora; a changed corpus means the model is stale.
for f in indonesian_youtube_gambling youtube_spam_collection sms_spam_collection indonesian_sms_spam; do
  sum=$(sha256sum "$corpus/$f.jsonl" | cut -d' ' -f1)
  if ! grep -q "\"sha256\": \"$sum\"" models/default.card.json; then
    echo "models/default.card.json does not record $f.jsonl as it is now: retrain the model (docs/model.md)" >&2
    exit 1
  fi
done

cargo build --release --locked --quiet
./target/release/saring cv --quiet --folds 5 \
  --data "$corpus/indonesian_youtube_gambling.jsonl" \
  --data "$corpus/youtube_spam_collection.jsonl" \
  --data "$corpus/sms_spam_collection.jsonl" \
  --data "$corpus/indonesian_sms_spam.jsonl" \
  --min-f1 indonesian-youtube-judol=0.94 \
  --min-f1 youtube-spam-collection=0.80 \
  --min-f1 sms-spam-collection=0.94 \
  --min-f1 indonesian-sms-spam=0.95 \
  --bar-ham-rejected 0.01
