/*
 * rmtool.measure._granules: the native core of the per-granule hot path.
 *
 * Spec: TF-RMM lib/measurement/src/rim.c (measurement_data_granule_measure: H(granule)
 * for each 4 KiB granule, then one RmmMeasurementDescriptorData per granule extends the
 * RIM).
 *
 * Three functions, all releasing the GIL while they hash, so worker threads really run in
 * parallel (with hashlib the GIL is taken back after every 4 KiB granule):
 *
 *   granule_hashes(algo, data) -> bytes
 *       H(granule) for each whole 4 KiB granule of ``data``, concatenated.
 *   file_granule_hashes(algo, fd, offset, count) -> bytes
 *       The same for ``count`` granules of an open file from byte ``offset``, hashed from a
 *       temporary read-only mapping (no copy out of the page cache: a third of the CPU time
 *       of measuring a large payload went into pread's copy). The range must lie inside the
 *       file; a file truncated while it is hashed raises OSError instead of killing the
 *       process with SIGBUS (a SIGBUS handler jumps back out of the hashing loop).
 *   data_chain(algo, template, rim_off, ipa_off, content_off, rim, ipa, contents) -> bytes
 *       For each hash in ``contents``: write ``rim`` (hash-size, at rim_off), ``ipa``
 *       (little-endian u64, at ipa_off) and the content hash (at content_off) into a copy
 *       of the 256-byte descriptor ``template``, then rim = H(descriptor); ipa += 4096.
 *       Returns the final rim.
 *
 * This module knows no layout: the descriptor template and the field offsets come from
 * rmm/layouts.py (the mirror of the construct declaration). Hashing is OpenSSL's (the library
 * hashlib itself uses). rmtool/measure/_hashcore.py holds the pure-Python equivalent used
 * when this module is not built; tests prove the two identical.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GRANULE 4096
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#define EVP_MD_get_size EVP_MD_size
#endif
#define DESC 256
#define MAX_HASH 64

typedef struct {
    const char *name;   /* hashlib name */
    const char *ossl;   /* OpenSSL name */
    const EVP_MD *md;
} algo_t;

static algo_t algos[] = {
    {"sha256", "SHA256", NULL},
    {"sha384", "SHA384", NULL},
    {"sha512", "SHA512", NULL},
};

static const EVP_MD *
find_md(const char *name)
{
    for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
        if (strcmp(algos[i].name, name) == 0) {
            if (algos[i].md == NULL) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
                /* an explicit fetch: EVP_sha256() would be fetched again on every init */
                algos[i].md = EVP_MD_fetch(NULL, algos[i].ossl, NULL);
#else
                algos[i].md = EVP_get_digestbyname(algos[i].ossl);
#endif
            }
            if (algos[i].md == NULL)
                PyErr_Format(PyExc_RuntimeError, "OpenSSL has no %s digest", algos[i].ossl);
            return algos[i].md;
        }
    }
    PyErr_Format(PyExc_ValueError, "unsupported hash algorithm %s", name);
    return NULL;
}

/* One digest with a reused context; 0 on success. */
static int
digest(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *p, size_t n, unsigned char *out)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    if (!EVP_DigestInit_ex2(ctx, md, NULL))
        return -1;
#else
    if (!EVP_DigestInit_ex(ctx, md, NULL))
        return -1;
#endif
    if (!EVP_DigestUpdate(ctx, p, n))
        return -1;
    return EVP_DigestFinal_ex(ctx, out, NULL) ? 0 : -1;
}

/* H(granule) of count consecutive granules at in, written to out; 0 on success. */
static int
hash_granules(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *in, size_t count,
              unsigned char *out, size_t dsize)
{
    for (size_t i = 0; i < count; i++)
        if (digest(ctx, md, in + i * GRANULE, GRANULE, out + i * dsize) != 0)
            return -1;
    return 0;
}

static PyObject *
granule_hashes(PyObject *self, PyObject *args)
{
    const char *name;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "sy*:granule_hashes", &name, &data))
        return NULL;
    PyObject *result = NULL;
    const EVP_MD *md = find_md(name);
    if (md == NULL)
        goto done;
    if (data.len % GRANULE) {
        PyErr_Format(PyExc_ValueError, "data length %zd is not a multiple of %d", data.len,
                     GRANULE);
        goto done;
    }
    size_t dsize = (size_t)EVP_MD_get_size(md);
    size_t count = (size_t)data.len / GRANULE;
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(count * dsize));
    if (result == NULL)
        goto done;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    const unsigned char *in = (const unsigned char *)data.buf;
    int failed = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        failed = 1;
    } else {
        Py_BEGIN_ALLOW_THREADS
        failed = hash_granules(ctx, md, in, count, out, dsize) != 0;
        Py_END_ALLOW_THREADS
        EVP_MD_CTX_free(ctx);
    }
    if (failed) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL digest failed");
    }
done:
    PyBuffer_Release(&data);
    return result;
}

static PyObject *
data_chain(PyObject *self, PyObject *args)
{
    const char *name;
    Py_buffer tmpl, rim, contents;
    Py_ssize_t rim_off, ipa_off, content_off;
    unsigned long long ipa;
    if (!PyArg_ParseTuple(args, "sy*nnny*Ky*:data_chain", &name, &tmpl, &rim_off, &ipa_off,
                          &content_off, &rim, &ipa, &contents))
        return NULL;
    PyObject *result = NULL;
    const EVP_MD *md = find_md(name);
    if (md == NULL)
        goto done;
    Py_ssize_t dsize = EVP_MD_get_size(md);
    if (tmpl.len != DESC) {
        PyErr_Format(PyExc_ValueError, "descriptor template is %zd bytes, not %d", tmpl.len,
                     DESC);
        goto done;
    }
    if (rim_off < 0 || rim_off + dsize > DESC || content_off < 0 ||
        content_off + dsize > DESC || ipa_off < 0 || ipa_off + 8 > DESC) {
        PyErr_SetString(PyExc_ValueError, "descriptor field offset out of range");
        goto done;
    }
    if (rim.len != dsize || contents.len % dsize) {
        PyErr_Format(PyExc_ValueError, "rim or contents not a multiple of the %zd-byte hash",
                     dsize);
        goto done;
    }
    unsigned char desc[DESC], cur[MAX_HASH];
    memcpy(desc, tmpl.buf, DESC);
    memcpy(cur, rim.buf, (size_t)dsize);
    const unsigned char *in = (const unsigned char *)contents.buf;
    Py_ssize_t count = contents.len / dsize;
    int failed = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        failed = 1;
    } else {
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < count && !failed; i++) {
            memcpy(desc + rim_off, cur, (size_t)dsize);
            for (int b = 0; b < 8; b++)
                desc[ipa_off + b] = (unsigned char)(ipa >> (8 * b));
            memcpy(desc + content_off, in + i * dsize, (size_t)dsize);
            failed = digest(ctx, md, desc, DESC, cur) != 0;
            ipa += GRANULE;
        }
        Py_END_ALLOW_THREADS
        EVP_MD_CTX_free(ctx);
    }
    if (failed)
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL digest failed");
    else
        result = PyBytes_FromStringAndSize((const char *)cur, dsize);
done:
    PyBuffer_Release(&tmpl);
    PyBuffer_Release(&rim);
    PyBuffer_Release(&contents);
    return result;
}

/* ---- file_granule_hashes: hashing straight from a mapping, guarded against SIGBUS ---- */

static _Thread_local sigjmp_buf *sigbus_jump;  /* set while this thread reads a mapping */
static struct sigaction previous_sigbus;
static int sigbus_handler_installed;

static void
on_sigbus(int sig, siginfo_t *info, void *uctx)
{
    if (sigbus_jump != NULL)
        siglongjmp(*sigbus_jump, 1);
    /* not a fault of ours: put the previous disposition back; returning re-executes the
     * faulting instruction under it */
    sigaction(SIGBUS, &previous_sigbus, NULL);
    (void)sig; (void)info; (void)uctx;
}

static int
install_sigbus_handler(void)
{
    if (sigbus_handler_installed)
        return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous_sigbus) != 0)
        return -1;
    sigbus_handler_installed = 1;
    return 0;
}

/* Hash count granules at p; 0 on success, -1 OpenSSL failure, -2 SIGBUS. */
static int
hash_mapped(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *p, size_t count,
            unsigned char *out, size_t dsize)
{
    sigjmp_buf jump;
    if (sigsetjmp(jump, 1) != 0) {
        sigbus_jump = NULL;
        return -2;
    }
    sigbus_jump = &jump;
    int status = hash_granules(ctx, md, p, count, out, dsize);
    sigbus_jump = NULL;
    return status;
}

static PyObject *
file_granule_hashes(PyObject *self, PyObject *args)
{
    const char *name;
    int fd;
    long long offset, count;
    if (!PyArg_ParseTuple(args, "siLL:file_granule_hashes", &name, &fd, &offset, &count))
        return NULL;
    const EVP_MD *md = find_md(name);
    if (md == NULL)
        return NULL;
    if (offset < 0 || count < 0 || count > (LLONG_MAX - offset) / GRANULE) {
        PyErr_SetString(PyExc_ValueError, "granule range out of bounds");
        return NULL;
    }
    if (install_sigbus_handler() != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    if (offset + count * GRANULE > (long long)st.st_size) {
        PyErr_SetString(PyExc_OSError, "file changed while being read");
        return NULL;
    }
    size_t dsize = (size_t)EVP_MD_get_size(md);
    PyObject *result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)((size_t)count * dsize));
    if (result == NULL || count == 0)
        return result;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    long page = sysconf(_SC_PAGESIZE);
    long long base = offset - offset % page;
    size_t lead = (size_t)(offset - base);
    size_t length = lead + (size_t)count * GRANULE;
    int status = 0, err = 0;
    Py_BEGIN_ALLOW_THREADS
    void *map = mmap(NULL, length, PROT_READ, MAP_SHARED, fd, (off_t)base);
    if (map == MAP_FAILED) {
        err = errno;
        status = -3;
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (ctx == NULL)
            status = -1;
        else {
            status = hash_mapped(ctx, md, (const unsigned char *)map + lead, (size_t)count, out,
                                 dsize);
            EVP_MD_CTX_free(ctx);
        }
        munmap(map, length);
    }
    Py_END_ALLOW_THREADS
    if (status != 0) {
        Py_DECREF(result);
        if (status == -3) {
            errno = err;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (status == -2)
            PyErr_SetString(PyExc_OSError, "file changed while being read");
        else
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL digest failed");
        return NULL;
    }
    return result;
}

static PyMethodDef methods[] = {
    {"granule_hashes", granule_hashes, METH_VARARGS,
     "granule_hashes(algo, data) -> H(granule) of each 4 KiB granule, concatenated"},
    {"file_granule_hashes", file_granule_hashes, METH_VARARGS,
     "file_granule_hashes(algo, fd, offset, count) -> hashes of count granules of a file"},
    {"data_chain", data_chain, METH_VARARGS,
     "data_chain(algo, template, rim_off, ipa_off, content_off, rim, ipa, contents) -> rim"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_granules",
    "Native per-granule hashing and DATA descriptor chain (see _hashcore.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__granules(void)
{
    return PyModule_Create(&module);
}
