/* archutil.h: the architecture-table fixture shared by test_arch.c and
 * test_cfgedit.c: a built-in table in T for each test, families by name,
 * JSON from text. */
#ifndef SUTURE_ARCHUTIL_H
#define SUTURE_ARCHUTIL_H

#include <cjson/cJSON.h>

#include "testutil.h"
#include "suture/arch.h"
#include "common/util.h"

static arch_table *T;

static void setup(void)
{
    sut_error err = { "" };

    T = arch_table_new(&err);
    ck_assert_msg(T != NULL, "%s", err.msg);
}

static void teardown(void)
{
    arch_table_free(T);
    T = NULL;
}

/* The built-in family name; fails the test when there is none. */
static const arch_family *fam(const char *name)
{
    const arch_family *f = arch_by_name(T, name);

    ck_assert_msg(f != NULL, "no family %s", name);
    return f;
}

/* text parsed by sut_json_parse; fails the test when it does not parse.
 * Caller cJSON_Deletes. */
static cJSON *json(const char *text)
{
    sut_error err = { "" };
    cJSON *j = sut_json_parse(text, strlen(text), "test", &err);

    ck_assert_msg(j != NULL, "%s", err.msg);
    return j;
}

#endif
