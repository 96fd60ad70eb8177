/* fuzz_verify.c: the provenance a built checkpoint carries (verify_run
 * reading "suture.models" and "suture.sources" from a shard's
 * __metadata__). The input is the two values, "suture.models" up to the
 * first line break and "suture.sources" after it; they are written into a
 * one-shard folder whose tensors are copies of model b's. "@" in the input
 * stands for the folder of models a and b (so "@/b" names model b). */
#include "recipes.h"
#include "suture/verify.h"

/* Writes out/model.safetensors with the given metadata values. */
static void write_out(const char *dir, const char *models, const char *sources)
{
    static const char *const names[] = {
        "model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight" };
    static const int sizes[] = { 4, 2 };
    cJSON *h = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(h, "__metadata__");
    char *text;
    int i, at = 0;

    FZ_CHECK(meta != NULL);
    cJSON_AddStringToObject(meta, "format", "pt");
    cJSON_AddStringToObject(meta, "suture.models", models);
    cJSON_AddStringToObject(meta, "suture.sources", sources);
    for (i = 0; i < 2; i++) {
        cJSON *t = cJSON_AddObjectToObject(h, names[i]);
        int shape[2] = { 2, 2 }, off[2] = { at, at + 4 * sizes[i] };
        cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON_AddItemToObject(t, "shape", cJSON_CreateIntArray(shape, sizes[i] / 2));
        cJSON_AddItemToObject(t, "data_offsets", cJSON_CreateIntArray(off, 2));
        at += 4 * sizes[i];
    }
    FZ_CHECK((text = cJSON_PrintUnformatted(h)) != NULL);
    fz_shard(dir, "model.safetensors", text, (size_t)at);
    cJSON_free(text);
    cJSON_Delete(h);
}

/* text with every "@" replaced by base. A new string (caller frees). */
static char *expand(const char *text, const char *base)
{
    size_t n = 0, bl = strlen(base);
    const char *p;
    char *out, *o;

    for (p = text; *p; p++)
        n += *p == '@' ? bl : 1;
    FZ_CHECK((out = malloc(n + 1)) != NULL);
    for (p = text, o = out; *p; p++) {
        if (*p == '@') {
            memcpy(o, base, bl);
            o += bl;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[600];
    const char *base = fz_models();
    verify_options opt = { .threads = 1 };
    sut_error err = {{0}};
    char *text = malloc(size + 1), *nl, *full;
    verify_report *r;
    size_t i;

    FZ_CHECK(text != NULL);
    if (!out[0]) {
        snprintf(out, sizeof(out), "%s/out", base);
        FZ_CHECK(mkdir(out, 0755) == 0);
        fz_write(out, "config.json", FZ_CONFIG, sizeof(FZ_CONFIG) - 1);
    }
    memcpy(text, data, size);
    text[size] = '\0';
    full = expand(text, base);
    free(text);
    text = full;
    nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    write_out(out, text, nl ? nl + 1 : "");
    r = verify_run(out, fz_table, &opt, &err);
    if (r) {
        for (i = 0; i < verify_problem_count(r); i++)
            FZ_CHECK_MSG(verify_problem_at(r, i)->message);
        cJSON_Delete(cli_json_verify(r));
    } else {
        FZ_CHECK_MSG(err.msg);
    }
    verify_free(r);
    free(text);
    return 0;
}
