/* One payload to many sockets in one loop of send(2), without a Python call per socket.
 *
 * Why: a loopback write costs the kernel ~7 us here; uvloop's transport.write adds ~1.5 us
 * of Python and Cython around each one, which at 1,000 watchers is 1.5 ms per event
 * (bench/README.md). The caller (transports/fanout.py) only passes sockets whose transport
 * has nothing buffered, so these bytes cannot overtake earlier ones; whatever a socket does
 * not take at once is handed back, to be queued on its transport in order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sys/socket.h>

PyDoc_STRVAR(send_all_doc,
"send_all(fds, data, /) -> list[tuple[int, int]]\n\n"
"Send ``data`` on every socket in ``fds`` (a buffer of C ints, e.g. array('i')) without\n"
"blocking. Returns (index, result) for each socket that did not take all of it: result is the\n"
"number of bytes it took (a short write), or minus the errno (-EAGAIN: none).");

static PyObject *
send_all(PyObject *module, PyObject *args)
{
    Py_buffer fds, data;
    if (!PyArg_ParseTuple(args, "y*y*:send_all", &fds, &data)) {
        return NULL;
    }
    PyObject *short_writes = PyList_New(0);
    if (short_writes == NULL) {
        goto done;
    }
    const int *fd = (const int *)fds.buf;
    Py_ssize_t count = fds.len / (Py_ssize_t)sizeof(int);
    const char *bytes = (const char *)data.buf;
    size_t size = (size_t)data.len;
    Py_ssize_t i = 0;
    while (i < count) {
        Py_ssize_t result = 0;
        /* The GIL is let go for the system calls only, up to the first socket to report. */
        Py_BEGIN_ALLOW_THREADS
        for (; i < count; i++) {
            ssize_t sent = send(fd[i], bytes, size, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (sent != (ssize_t)size) {
                result = sent < 0 ? -(Py_ssize_t)errno : (Py_ssize_t)sent;
                break;
            }
        }
        Py_END_ALLOW_THREADS
        if (i < count) {
            PyObject *item = Py_BuildValue("(nn)", i, result);
            if (item == NULL || PyList_Append(short_writes, item) < 0) {
                Py_XDECREF(item);
                Py_CLEAR(short_writes);
                goto done;
            }
            Py_DECREF(item);
            i++;
        }
    }
done:
    PyBuffer_Release(&fds);
    PyBuffer_Release(&data);
    return short_writes;
}

static PyMethodDef fanout_methods[] = {
    {"send_all", send_all, METH_VARARGS, send_all_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fanout_module = {
    PyModuleDef_HEAD_INIT, "_fanout", "send(2) to many sockets in one call.", -1,
    fanout_methods,
};

PyMODINIT_FUNC
PyInit__fanout(void)
{
    return PyModule_Create(&fanout_module);
}
