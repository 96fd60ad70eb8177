// The oracle side of tests/cli/tokenizer.sh: Hugging Face's tokenizers
// library (npm tokenizers@0.23.2, found through NODE_PATH).
//   node tokenizer_oracle.js TOKENIZER.json STRINGS.json FILE...
// Prints the ids of each string of STRINGS.json with special tokens, the
// same without, then the ids of each FILE (read as UTF-8), one JSON array
// per line, as `suture-tok TOKENIZER --strings STRINGS.json --no-special
// --strings STRINGS.json --special FILE...` prints them.
const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const [tokPath, stringsPath, ...files] = process.argv.slice(2);
const tok = Tokenizer.fromFile(tokPath);
const show = (ids) => '[' + ids.join(', ') + ']';
(async () => {
  const strings = JSON.parse(fs.readFileSync(stringsPath, 'utf8'));
  const out = [];
  for (const special of [true, false]) {
    for (const s of strings)
      out.push(show((await tok.encode(s, null, {addSpecialTokens: special})).getIds()));
  }
  for (const f of files)
    out.push(show((await tok.encode(fs.readFileSync(f, 'utf8'))).getIds()));
  console.log(out.join('\n'));
})().catch((e) => { console.error(String(e)); process.exit(2); });
