/* SciPy's BLAS, resolved at the first compiled call instead of at import.
 *
 * fastnn calls the BLAS that SciPy ships. A Cython `cimport` of
 * scipy.linalg.cython_blas would import scipy.linalg (about 0.7 s) when a
 * fastnn extension module is imported; instead each extension module (each
 * translation unit including this header) holds its own table of function
 * pointers, filled from cython_blas's __pyx_capi__ capsules the first time it
 * is needed. blas.pxd is the only user of this header.
 */
#ifndef FASTNN_BLAS_POINTERS_H
#define FASTNN_BLAS_POINTERS_H

#include <Python.h>

typedef void (*fastnn_gemm_s)(char*, char*, int*, int*, int*, float*, float*, int*,
                              float*, int*, float*, float*, int*);
typedef void (*fastnn_gemm_d)(char*, char*, int*, int*, int*, double*, double*, int*,
                              double*, int*, double*, double*, int*);
typedef void (*fastnn_gemv_s)(char*, int*, int*, float*, float*, int*, float*, int*,
                              float*, float*, int*);
typedef void (*fastnn_gemv_d)(char*, int*, int*, double*, double*, int*, double*, int*,
                              double*, double*, int*);
typedef void (*fastnn_ger_s)(int*, int*, float*, float*, int*, float*, int*, float*, int*);
typedef void (*fastnn_ger_d)(int*, int*, double*, double*, int*, double*, int*, double*, int*);
typedef void (*fastnn_axpy_s)(int*, float*, float*, int*, float*, int*);
typedef void (*fastnn_axpy_d)(int*, double*, double*, int*, double*, int*);
typedef void (*fastnn_scal_s)(int*, float*, float*, int*);
typedef void (*fastnn_scal_d)(int*, double*, double*, int*);
typedef float (*fastnn_dot_s)(int*, float*, int*, float*, int*);
typedef double (*fastnn_dot_d)(int*, double*, int*, double*, int*);

typedef struct {
    fastnn_gemm_s sgemm; fastnn_gemm_d dgemm;
    fastnn_gemv_s sgemv; fastnn_gemv_d dgemv;
    fastnn_ger_s sger;   fastnn_ger_d dger;
    fastnn_axpy_s saxpy; fastnn_axpy_d daxpy;
    fastnn_scal_s sscal; fastnn_scal_d dscal;
    fastnn_dot_s sdot;   fastnn_dot_d ddot;
} fastnn_blas_table;

static fastnn_blas_table fastnn_blas = {0};

static void* fastnn_blas_lookup(PyObject* capi, const char* name) {
    PyObject* capsule = PyDict_GetItemString(capi, name);   /* borrowed */
    if (capsule == NULL) {
        PyErr_Format(PyExc_ImportError,
                     "scipy.linalg.cython_blas does not export %s", name);
        return NULL;
    }
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule));
}

/* Fill the table (needs the GIL). Returns 0, or -1 with a Python error set. */
static inline int fastnn_blas_loaded(void) {
    return __atomic_load_n(&fastnn_blas.sgemm, __ATOMIC_ACQUIRE) != NULL;
}

static int fastnn_blas_load(void) {
    PyObject *module, *capi;
    fastnn_blas_table t;
    if (fastnn_blas_loaded())
        return 0;
    module = PyImport_ImportModule("scipy.linalg.cython_blas");
    if (module == NULL)
        return -1;
    capi = PyObject_GetAttrString(module, "__pyx_capi__");
    Py_DECREF(module);
    if (capi == NULL)
        return -1;
#define FASTNN_GET(field) \
    if ((*(void**)&t.field = fastnn_blas_lookup(capi, #field)) == NULL) goto fail;
    FASTNN_GET(sgemm) FASTNN_GET(dgemm) FASTNN_GET(sgemv) FASTNN_GET(dgemv)
    FASTNN_GET(sger) FASTNN_GET(dger) FASTNN_GET(saxpy) FASTNN_GET(daxpy)
    FASTNN_GET(sscal) FASTNN_GET(dscal) FASTNN_GET(sdot) FASTNN_GET(ddot)
#undef FASTNN_GET
    Py_DECREF(capi);
    /* Publish sgemm last: a reader that sees it set sees the whole table. */
    {
        fastnn_gemm_s sgemm = t.sgemm;
        t.sgemm = NULL;
        fastnn_blas = t;
        __atomic_store_n(&fastnn_blas.sgemm, sgemm, __ATOMIC_RELEASE);
    }
    return 0;
fail:
    Py_DECREF(capi);
    return -1;
}

/* For a kernel reached without the GIL before any entry point loaded the
 * table (the entry points normally do): take the GIL once, load, and stop the
 * process with a clear message if SciPy's BLAS cannot be found, rather than
 * call through a NULL pointer. */
static void fastnn_blas_ensure(void) {
    PyGILState_STATE gil;
    if (fastnn_blas_loaded())
        return;
    gil = PyGILState_Ensure();
    if (fastnn_blas_load() != 0) {
        PyErr_Print();
        Py_FatalError("fastnn: cannot load the BLAS of scipy.linalg.cython_blas");
    }
    PyGILState_Release(gil);
}

#endif
