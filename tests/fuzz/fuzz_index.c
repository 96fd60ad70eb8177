/* fuzz_index.c: model.safetensors.index.json. The input is written as the
 * index of a small valid two-shard folder, which is then opened strictly
 * and leniently, and audited. */
#include "folder.h"

static arch_table *table;

static void open_as(const char *dir, int flags)
{
    sut_error err = {{0}};
    model *m = model_open(dir, table, flags, &err);

    if (m)
        fz_check_model(m);
    else
        FZ_CHECK_MSG(err.msg);
    model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    const char *dir = fz_folder();

    if (!ready) {
        FZ_CHECK((table = arch_table_new(NULL)) != NULL);
        fz_model_files(dir, 1);
        ready = 1;
    }
    fz_write(dir, "model.safetensors.index.json", data, size);
    open_as(dir, MODEL_STRICT);
    open_as(dir, MODEL_LENIENT);
    fz_audit(dir, table);
    return 0;
}
