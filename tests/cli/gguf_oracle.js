// gguf_oracle.js FILE: reads a GGUF file with @huggingface/gguf (an
// independent parser, from npm) and prints what suture's inspect --json
// --tensors should agree with, in the form gguf_norm.py prints.
const {gguf} = require('@huggingface/gguf');
const VT = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32',
            'bool', 'string', 'array', 'uint64', 'int64', 'float64'];
(async () => {
  const r = await gguf(process.argv[2], {allowLocalFile: true, typedMetadata: true});
  const out = {version: Number(r.metadata.version), data_start: Number(r.tensorDataOffset),
               keys: [], tensors: []};
  for (const [k, v] of Object.entries(r.typedMetadata)) {
    if (k === 'version' || k === 'tensor_count' || k === 'kv_count') continue;
    if (v.type === 9)
      out.keys.push([k, 'array', VT[v.subType], v.value.length]);
    else
      out.keys.push([k, typeof v.value === 'bigint' ? Number(v.value) : v.value]);
  }
  for (const t of r.tensorInfos)
    out.tensors.push([t.name, t.dtype, t.shape.map(Number), Number(t.offset)]);
  console.log(JSON.stringify(out));
})().catch(e => { console.error(String(e)); process.exit(1); });
