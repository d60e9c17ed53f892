/* rtpengined.media._relay: batched receive and send for the relay worker's plain drain.
 *
 * Python has no binding for recvmmsg(2)/sendmmsg(2). With them, a stream whose socket holds
 * several packets is emptied with one system call and its packets sent on with one more,
 * and a drain never pays an extra receive (plus a raised BlockingIOError) to find the socket
 * empty. The destination is a packed sockaddr made once per endpoint change (``sockaddr``),
 * not a Python address tuple parsed on every send.
 *
 * Only the settled case lives here: a confirmed stream without source checks whose packets
 * all go, unchanged, to one destination. Learning, strict source, handover, RTCP demux and
 * SRTP stay in Python (rtpengined/media/worker.py), which also falls back to its own loop
 * when this module was not built (``RTPENGINED_PURE_RELAY=1`` forces that).
 *
 * Packets land in one buffer owned by this module, one 64 KiB slot each (a UDP payload
 * never exceeds it, so nothing is truncated); it is allocated once and only the pages
 * packets touch are ever backed by memory.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_BATCH 64
#define SLOT 65536

static char *slots;
static struct mmsghdr msgs[MAX_BATCH];
static struct iovec iovs[MAX_BATCH];

static int received; /* packets held in the slots by the last receive() */

/* Slot i's header as receive() wants it: the whole slot, no address. Set for every slot
 * at import and again by send() for the ones it used, so a receive touches none. */
static void reset(int i)
{
    iovs[i].iov_base = slots + (size_t)i * SLOT;
    iovs[i].iov_len = SLOT;
    memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
}

/* An int argument (PyLong_AsLong: public API on every Python 3 version we support). */
static int as_int(PyObject *value, int *out)
{
    long v = PyLong_AsLong(value);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "argument out of range");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* receive(fd, limit) -> (count, nbytes, error, last_size, head)
 *
 * Receives up to ``limit`` packets from ``fd`` (non-blocking) into the slots. ``error`` is 1
 * when the receive failed with anything but EAGAIN. ``head`` is the first (up to) 12 bytes
 * of the last packet received, for the caller's SSRC/payload-type bookkeeping; ``last_size``
 * its full size. Separate from send() so that the caller publishes its counters between
 * the two (a party that got a relayed packet must find it counted). */
static PyObject *receive(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "receive(fd, limit)");
        return NULL;
    }
    int fd, limit;
    if (as_int(args[0], &fd) < 0 || as_int(args[1], &limit) < 0)
        return NULL;
    if (limit < 1)
        limit = 1;
    if (limit > MAX_BATCH)
        limit = MAX_BATCH;
    int count, error = 0;
    do {
        count = recvmmsg(fd, msgs, (unsigned)limit, MSG_DONTWAIT, NULL);
    } while (count < 0 && errno == EINTR);
    if (count < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            error = 1;
        count = 0;
    }
    received = count;
    unsigned long long nbytes = 0;
    for (int i = 0; i < count; i++)
        nbytes += msgs[i].msg_len;
    unsigned last_size = count ? msgs[count - 1].msg_len : 0;
    const char *last = count ? slots + (size_t)(count - 1) * SLOT : "";
    return Py_BuildValue("iKiIy#", count, nbytes, error, last_size, last,
                         (Py_ssize_t)(last_size < 12 ? last_size : 12));
}

/* The shared counter table (rtpengined.media.counters), mapped by the worker: attach(). */
static Py_buffer table;
static int attached;

/* attach(buffer): the counter table send() writes traffic counters into. The buffer (the
 * worker's mmap) stays exported for the life of the process. */
static PyObject *attach(PyObject *self, PyObject *buffer)
{
    if (attached) {
        PyBuffer_Release(&table);
        attached = 0;
    }
    if (PyObject_GetBuffer(buffer, &table, PyBUF_WRITABLE) < 0)
        return NULL;
    attached = 1;
    Py_RETURN_NONE;
}

/* The traffic part of a counter slot, as CounterTable.write_traffic writes it: the slot's
 * sequence number odd while writing (a seqlock: readers retry), then even again. */
static int write_traffic(PyObject *const *args)
{
    long long offset;
    unsigned long long packets, nbytes, errors;
    double last;
    unsigned long ssrc, seen;
    offset = PyLong_AsLongLong(args[0]);
    packets = PyLong_AsUnsignedLongLong(args[1]);
    nbytes = PyLong_AsUnsignedLongLong(args[2]);
    errors = PyLong_AsUnsignedLongLong(args[3]);
    last = PyFloat_AsDouble(args[4]);
    ssrc = PyLong_AsUnsignedLong(args[5]);
    seen = PyLong_AsUnsignedLong(args[6]);
    if (PyErr_Occurred())
        return -1;
    if (!attached || offset < 0 || offset + 48 > table.len) {
        PyErr_SetString(PyExc_ValueError, "counter slot outside the attached table");
        return -1;
    }
    char *slot = (char *)table.buf + offset;
    uint64_t seq;
    memcpy(&seq, slot, 8);
    seq |= 1;
    __atomic_store_n((uint64_t *)slot, seq, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the odd number is out before the body */
    uint32_t ssrc32 = (uint32_t)ssrc;
    uint8_t seen8 = (uint8_t)seen;
    memcpy(slot + 8, &packets, 8);
    memcpy(slot + 16, &nbytes, 8);
    memcpy(slot + 24, &errors, 8);
    memcpy(slot + 32, &last, 8);
    memcpy(slot + 40, &ssrc32, 4);
    memcpy(slot + 44, &seen8, 1);
    __atomic_store_n((uint64_t *)slot, seq + 1, __ATOMIC_RELEASE);
    return 0;
}

/* send(fd, dest[, offset, packets, bytes, errors, last_packet, ssrc, ssrc_seen]) -> failed
 *
 * Sends the packets of the last receive() unchanged from ``fd`` to ``dest`` (packed sockaddr
 * bytes from sockaddr()); returns how many the kernel refused (each refused packet is
 * skipped, the rest still go). With the seven counter arguments it first writes them to
 * the slot at byte ``offset`` of the attached table, as the worker's publish step would:
 * counted before sent, one call instead of two. */
static PyObject *send_(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if ((nargs != 2 && nargs != 9) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "send(fd, dest: bytes[, offset, packets, bytes, "
                                         "errors, last_packet, ssrc, ssrc_seen])");
        return NULL;
    }
    int fd;
    if (as_int(args[0], &fd) < 0)
        return NULL;
    if (nargs == 9 && write_traffic(args + 2) < 0)
        return NULL;
    char *addr = PyBytes_AS_STRING(args[1]);
    socklen_t addrlen = (socklen_t)PyBytes_GET_SIZE(args[1]);
    int count = received;
    received = 0;
    for (int i = 0; i < count; i++) {
        iovs[i].iov_len = msgs[i].msg_len;
        msgs[i].msg_hdr.msg_name = addr;
        msgs[i].msg_hdr.msg_namelen = addrlen;
    }
    int sent = 0, failed = 0;
    while (sent < count) {
        int done = sendmmsg(fd, msgs + sent, (unsigned)(count - sent), MSG_DONTWAIT);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            failed++; /* this packet is refused: count it, go on with the next */
            sent++;
        } else {
            sent += done;
        }
    }
    for (int i = 0; i < count; i++) /* back to receive headers (see reset) */
        reset(i);
    return PyLong_FromLong(failed);
}

/* sockaddr(family, address, port) -> bytes: the packed sockaddr_in/sockaddr_in6 ``send``
 * sends to. ``family`` is 4 or 6; ``address`` an IP literal of that family. */
static PyObject *sockaddr(PyObject *self, PyObject *args)
{
    int family, port;
    const char *address;
    if (!PyArg_ParseTuple(args, "isi", &family, &address, &port))
        return NULL;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return NULL;
    }
    if (family == 6) {
        struct sockaddr_in6 sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin6_family = AF_INET6;
        sa.sin6_port = htons((unsigned short)port);
        if (inet_pton(AF_INET6, address, &sa.sin6_addr) != 1) {
            PyErr_SetString(PyExc_ValueError, "not an IPv6 address");
            return NULL;
        }
        return PyBytes_FromStringAndSize((const char *)&sa, sizeof(sa));
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
        PyErr_SetString(PyExc_ValueError, "not an IPv4 address");
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)&sa, sizeof(sa));
}

static PyMethodDef methods[] = {
    {"receive", (PyCFunction)(void (*)(void))receive, METH_FASTCALL, "Receive up to limit packets (recvmmsg)."},
    {"send", (PyCFunction)(void (*)(void))send_, METH_FASTCALL, "Send the received packets on (sendmmsg)."},
    {"attach", attach, METH_O, "The counter table send() writes traffic counters into."},
    {"sockaddr", sockaddr, METH_VARARGS, "Packed sockaddr for relay's destination."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_relay", "recvmmsg/sendmmsg for the relay worker's plain drain.", -1, methods,
};

PyMODINIT_FUNC PyInit__relay(void)
{
    slots = malloc((size_t)MAX_BATCH * SLOT);
    if (slots == NULL)
        return PyErr_NoMemory();
    for (int i = 0; i < MAX_BATCH; i++)
        reset(i);
    PyObject *m = PyModule_Create(&module);
    if (m != NULL) {
        PyModule_AddIntConstant(m, "MAX_BATCH", MAX_BATCH);
        /* worker.py uses the helper only when this matches: a stale build is ignored */
        PyModule_AddIntConstant(m, "API", 2);
    }
    return m;
}
