/* rtpengined.media._relay: the relay worker's event loop for settled plain streams, in C.
 *
 * At RTP rates nearly every packet is a wakeup of its own, and a wakeup that goes through
 * Python (epoll.poll, the dispatch loop, the drain's checks, two helper calls) cost more
 * than twice what rtpengine spends per packet. So the worker's loop itself is here:
 * ``run`` waits on the worker's epoll set and relays every ready socket that is registered
 * in a C-side table of *settled* streams (confirmed, no source checks, no SRTP/WebRTC on
 * either side, no RTCP demux, one sink) without returning to Python: one ``recvmmsg`` for
 * everything waiting, the stream's counters written to its shared-memory slot, one
 * ``sendmmsg`` to the sink's destination. It returns to Python only with what it cannot
 * handle: the control channel, streams that are not in the table (learning, strict source,
 * handover, demux, SRTP, WebRTC, blocked), a sink whose destination is not a sockaddr of
 * its socket's family, counters Python must flush (kernel drops, send errors), or the
 * timeout Python asked for (its timers and its counter flush).
 *
 * Python (rtpengined/media/worker.py) stays the owner of every decision: it registers a
 * stream when it becomes settled and takes it (and its counters) back when it no longer is
 * (``register``/``unregister``), and tells the table each stream's destination whenever it
 * changes (``destination``). While a stream is registered its traffic counters live here;
 * ``totals`` reads them back for a full slot write. Everything Python does per packet for
 * such a stream is done here the same way: counted (and published) before sent, the last
 * packet's SSRC, payload type and RTCP-seen bit as ``Worker.publish`` takes them.
 *
 * Signalling first: when the control channel is ready in the same ``epoll_wait`` batch as
 * packets, ``run`` returns the channel alone and keeps the other events; the next ``run``
 * (after Python applied the channel's changes) handles them first, against the table as
 * the channel left it.
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
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_BATCH 64
#define SLOT 65536
#define MAX_EVENTS 1024
#define CONGESTED 8 /* packets in one drain that make Python read the kernel's drops */

#define DEST_NONE 0    /* no destination: packets for this stream are dropped quietly */
#define DEST_PACKED 1  /* ``dest`` holds a sockaddr of the socket's family */
#define DEST_FOREIGN 2 /* an address sendmmsg cannot take: Python's drain handles it */

static char *slots;
static struct mmsghdr msgs[MAX_BATCH];
static struct iovec iovs[MAX_BATCH];

/* One entry per file descriptor of the worker's stream sockets. */
struct entry {
    uint8_t known;    /* a destination was set (the fd is a stream's socket) */
    uint8_t settled;  /* registered: relayed here */
    uint8_t dest_state;
    uint8_t seen;     /* the slot's ssrc_seen byte: bit 0 SSRC seen, bit 1 RTCP seen */
    uint8_t payload_type; /* the slot's payload_type byte: 0x80 | type, 0 for none */
    uint8_t congested; /* a drain found CONGESTED or more packets since the last totals() */
    socklen_t dest_len;
    int sink;          /* fd of the stream the packets are sent from */
    Py_ssize_t offset; /* byte offset of the stream's counter slot */
    uint64_t packets, bytes, errors;
    double last;
    uint32_t ssrc;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } dest;
};

static struct entry *table;
static int table_size;

/* Events of the last epoll_wait not handled yet (the channel was ready with them). */
static struct epoll_event pending[MAX_EVENTS];
static int pending_count;

/* The shared counter table (rtpengined.media.counters), mapped by the worker: attach(). */
static Py_buffer counters;
static int attached;

/* Slot i's header as recvmmsg wants it: the whole slot, no address. */
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

static struct entry *lookup(int fd)
{
    return fd >= 0 && fd < table_size ? &table[fd] : NULL;
}

/* The entry of ``fd``, the table grown to hold it (zeroed entries). */
static struct entry *entry_for(int fd)
{
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "negative file descriptor");
        return NULL;
    }
    if (fd >= table_size) {
        int size = table_size ? table_size : 256;
        while (size <= fd)
            size *= 2;
        struct entry *grown = realloc(table, (size_t)size * sizeof(*table));
        if (grown == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        memset(grown + table_size, 0, (size_t)(size - table_size) * sizeof(*table));
        table = grown;
        table_size = size;
    }
    return &table[fd];
}

/* The traffic part of the stream's slot (bytes 8-45, as CounterTable.write_traffic), and
 * the payload type byte (69) when ``with_type``: the slot's sequence number odd while
 * writing (a seqlock: readers retry), then even again. */
static void publish(struct entry *e, int with_type)
{
    if (!attached || e->offset < 0 || e->offset + 80 > counters.len)
        return;
    char *slot = (char *)counters.buf + e->offset;
    uint64_t seq;
    memcpy(&seq, slot, 8);
    seq |= 1;
    __atomic_store_n((uint64_t *)slot, seq, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the odd number is out before the body */
    memcpy(slot + 8, &e->packets, 8);
    memcpy(slot + 16, &e->bytes, 8);
    memcpy(slot + 24, &e->errors, 8);
    memcpy(slot + 32, &e->last, 8);
    memcpy(slot + 40, &e->ssrc, 4);
    memcpy(slot + 44, &e->seen, 1);
    if (with_type)
        memcpy(slot + 69, &e->payload_type, 1);
    __atomic_store_n((uint64_t *)slot, seq + 1, __ATOMIC_RELEASE);
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Relay what waits on settled stream ``fd`` (at most MAX_BATCH packets): receive, count
 * and publish, send on. Returns 1 when Python must flush the stream (congestion or a
 * refused send: its kernel drops or errors go out with the next flush, as in Python). */
static int relay(int fd, struct entry *e, double wall)
{
    int count, error = 0;
    do {
        count = recvmmsg(fd, msgs, MAX_BATCH, MSG_DONTWAIT, NULL);
    } while (count < 0 && errno == EINTR);
    if (count < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            error = 1;
        count = 0;
    }
    if (!count) {
        if (error) {
            e->errors += 1;
            publish(e, 0);
        }
        return 0;
    }
    uint64_t nbytes = 0;
    for (int i = 0; i < count; i++)
        nbytes += msgs[i].msg_len;
    e->packets += (uint64_t)count;
    e->bytes += nbytes;
    e->errors += (uint64_t)error;
    e->last = wall;
    /* What Worker.publish takes from the last packet: its SSRC, for RTP its payload type
     * (a new one is written with the traffic), the first RTCP on the port. */
    int with_type = 0;
    unsigned size = msgs[count - 1].msg_len;
    const unsigned char *head = (const unsigned char *)slots + (size_t)(count - 1) * SLOT;
    if (size >= 8 && (head[0] & 0xC0) == 0x80) {
        unsigned marker = head[1];
        int rtcp = marker >= 192 && marker <= 223;
        if (rtcp) {
            e->ssrc = be32(head + 4);
            e->seen |= 2;
        } else if (size >= 12) {
            e->ssrc = be32(head + 8);
            uint8_t type = (uint8_t)(0x80 | (marker & 0x7F));
            if (type != e->payload_type) {
                e->payload_type = type;
                with_type = 1;
            }
        }
        if (size >= 12 || rtcp)
            e->seen |= 1;
    }
    int dirty = 0;
    if (count >= CONGESTED) {
        e->congested = 1;
        dirty = 1;
    }
    publish(e, with_type); /* counted before sent: a party that got it finds it counted */
    struct entry *sink = lookup(e->sink);
    if (sink == NULL || sink->dest_state != DEST_PACKED) { /* nowhere to send: dropped */
        for (int i = 0; i < count; i++)
            reset(i);
        return dirty;
    }
    for (int i = 0; i < count; i++) {
        iovs[i].iov_len = msgs[i].msg_len;
        msgs[i].msg_hdr.msg_name = &sink->dest;
        msgs[i].msg_hdr.msg_namelen = sink->dest_len;
    }
    int sent = 0, failed = 0;
    while (sent < count) {
        int done = sendmmsg(e->sink, msgs + sent, (unsigned)(count - sent), MSG_DONTWAIT);
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
    if (failed) {
        e->errors += (uint64_t)failed;
        dirty = 1;
    }
    return dirty;
}

/* An event this module relays: a settled stream whose sink's destination it can send to. */
static struct entry *ours(int fd)
{
    struct entry *e = lookup(fd);
    if (e == NULL || !e->settled)
        return NULL;
    struct entry *sink = lookup(e->sink);
    if (sink != NULL && sink->dest_state == DEST_FOREIGN)
        return NULL;
    return e;
}

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Handle ``events``: relay ours, put the others in ``rest`` and the fds Python must flush
 * in ``dirty``. Returns how many were relayed here, -1 on error. */
static int dispatch(struct epoll_event *events, int n, double wall, PyObject *rest,
                    PyObject *dirty)
{
    int handled = 0;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        struct entry *e = ours(fd);
        if (e != NULL) {
            handled++;
            if (relay(fd, e, wall)) {
                PyObject *item = PyLong_FromLong(fd);
                if (item == NULL || PyList_Append(dirty, item) < 0) {
                    Py_XDECREF(item);
                    return -1;
                }
                Py_DECREF(item);
            }
            continue;
        }
        PyObject *item = Py_BuildValue("(iI)", fd, events[i].events);
        if (item == NULL || PyList_Append(rest, item) < 0) {
            Py_XDECREF(item);
            return -1;
        }
        Py_DECREF(item);
    }
    return handled;
}

/* run(epoll_fd, channel_fd, timeout) -> (events, handled, dirty)
 *
 * Waits on ``epoll_fd`` (``timeout`` seconds as select.epoll.poll takes it: negative waits
 * for ever, rounded up to milliseconds) and relays the settled streams' packets until
 * something needs Python: ``events`` are the (fd, mask) pairs it did not handle (as
 * epoll.poll gives them), ``handled`` how many ready streams it relayed, ``dirty`` the
 * fds of streams whose counters Python should flush. With ``timeout`` 0 (Python has
 * counters to flush once idle) it returns after one epoll_wait; otherwise it loops until
 * there is something for Python or the timeout has passed. */
static PyObject *run(PyObject *self, PyObject *args)
{
    int epfd, channel;
    double timeout;
    if (!PyArg_ParseTuple(args, "iid", &epfd, &channel, &timeout))
        return NULL;
    PyObject *rest = PyList_New(0), *dirty = PyList_New(0);
    if (rest == NULL || dirty == NULL)
        goto fail;
    int handled = 0;
    if (pending_count) { /* kept back while Python handled the channel: now, first */
        int n = pending_count;
        pending_count = 0;
        int done = dispatch(pending, n, wall_clock(), rest, dirty);
        if (done < 0)
            goto fail;
        handled += done;
        if (timeout == 0 || PyList_GET_SIZE(rest) || PyList_GET_SIZE(dirty))
            goto out;
    }
    double deadline = timeout > 0 ? monotonic() + timeout : 0;
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int ms = -1;
        if (timeout == 0) {
            ms = 0;
        } else if (timeout > 0) {
            double left = deadline - monotonic();
            ms = left <= 0 ? 0 : (int)ceil(left * 1000.0);
        }
        int n = epoll_wait(epfd, events, MAX_EVENTS, ms);
        if (n < 0) {
            if (errno == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto fail;
                if (timeout >= 0 && monotonic() >= deadline)
                    goto out;
                continue;
            }
            PyErr_SetFromErrno(PyExc_OSError);
            goto fail;
        }
        if (n == 0)
            goto out;
        double wall = wall_clock();
        for (int i = 0; i < n; i++) {
            if (events[i].data.fd == channel && n > 1) {
                /* Signalling first: the channel alone now, the rest on the next run(). */
                PyObject *item = Py_BuildValue("(iI)", channel, events[i].events);
                if (item == NULL || PyList_Append(rest, item) < 0) {
                    Py_XDECREF(item);
                    goto fail;
                }
                Py_DECREF(item);
                for (int j = 0; j < n; j++)
                    if (j != i)
                        pending[pending_count++] = events[j];
                goto out;
            }
        }
        int done = dispatch(events, n, wall, rest, dirty);
        if (done < 0)
            goto fail;
        handled += done;
        if (timeout == 0 || PyList_GET_SIZE(rest) || PyList_GET_SIZE(dirty))
            goto out;
        if (timeout > 0 && monotonic() >= deadline)
            goto out;
    }
out: {
        PyObject *result = Py_BuildValue("(NiN)", rest, handled, dirty);
        return result;
    }
fail:
    Py_XDECREF(rest);
    Py_XDECREF(dirty);
    return NULL;
}

/* destination(fd[, family, address, port]): where packets sent from ``fd``'s socket go
 * (the stream's current destination); without the address, none. An address that is not
 * an IP literal of ``family`` (4 or 6) is kept for Python's drain (DEST_FOREIGN). */
static PyObject *destination(PyObject *self, PyObject *args)
{
    int fd, family = 0, port = 0;
    const char *address = NULL;
    if (!PyArg_ParseTuple(args, "i|isi", &fd, &family, &address, &port))
        return NULL;
    struct entry *e = entry_for(fd);
    if (e == NULL)
        return NULL;
    e->known = 1;
    e->dest_state = DEST_NONE;
    e->dest_len = 0;
    if (address == NULL)
        Py_RETURN_NONE;
    memset(&e->dest, 0, sizeof(e->dest));
    if (port < 0 || port > 65535) {
        e->dest_state = DEST_FOREIGN;
    } else if (family == 6) {
        e->dest.v6.sin6_family = AF_INET6;
        e->dest.v6.sin6_port = htons((unsigned short)port);
        if (inet_pton(AF_INET6, address, &e->dest.v6.sin6_addr) == 1) {
            e->dest_state = DEST_PACKED;
            e->dest_len = sizeof(e->dest.v6);
        } else {
            e->dest_state = DEST_FOREIGN;
        }
    } else {
        e->dest.v4.sin_family = AF_INET;
        e->dest.v4.sin_port = htons((unsigned short)port);
        if (inet_pton(AF_INET, address, &e->dest.v4.sin_addr) == 1) {
            e->dest_state = DEST_PACKED;
            e->dest_len = sizeof(e->dest.v4);
        } else {
            e->dest_state = DEST_FOREIGN;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *totals_of(struct entry *e)
{
    return Py_BuildValue("(KKKdkiii)", (unsigned long long)e->packets,
                         (unsigned long long)e->bytes, (unsigned long long)e->errors, e->last,
                         (unsigned long)e->ssrc, (int)e->seen, (int)e->payload_type,
                         (int)e->congested);
}

/* register(fd, sink_fd, offset, packets, bytes, errors, last_packet, ssrc, ssrc_seen,
 * payload_type): relay ``fd``'s packets here from now on, sent from ``sink_fd``, counted
 * in the slot at byte ``offset``. Already registered: only the sink and slot change (the
 * counters held here stay; the given ones are Python's stale copy). */
static PyObject *register_(PyObject *self, PyObject *args)
{
    int fd, sink, seen, payload_type;
    Py_ssize_t offset;
    unsigned long long packets, nbytes, errors;
    double last;
    unsigned long ssrc;
    if (!PyArg_ParseTuple(args, "iinKKKdkii", &fd, &sink, &offset, &packets, &nbytes, &errors,
                          &last, &ssrc, &seen, &payload_type))
        return NULL;
    struct entry *e = entry_for(fd);
    if (e == NULL)
        return NULL;
    e->sink = sink;
    e->offset = offset;
    if (!e->settled) {
        e->settled = 1;
        e->packets = packets;
        e->bytes = nbytes;
        e->errors = errors;
        e->last = last;
        e->ssrc = (uint32_t)ssrc;
        e->seen = (uint8_t)seen;
        e->payload_type = (uint8_t)payload_type;
        e->congested = 0;
    }
    Py_RETURN_NONE;
}

/* unregister(fd) -> totals or None: Python relays ``fd`` again; the counters held here
 * (packets, bytes, errors, last_packet, ssrc, ssrc_seen, payload_type, congested) go back
 * to it. */
static PyObject *unregister(PyObject *self, PyObject *fd_obj)
{
    int fd;
    if (as_int(fd_obj, &fd) < 0)
        return NULL;
    struct entry *e = lookup(fd);
    if (e == NULL || !e->settled)
        Py_RETURN_NONE;
    e->settled = 0;
    return totals_of(e);
}

/* totals(fd) -> totals or None: the counters of a registered stream (for a full slot
 * write), which stays registered; its congestion note is taken. */
static PyObject *totals(PyObject *self, PyObject *fd_obj)
{
    int fd;
    if (as_int(fd_obj, &fd) < 0)
        return NULL;
    struct entry *e = lookup(fd);
    if (e == NULL || !e->settled)
        Py_RETURN_NONE;
    PyObject *result = totals_of(e);
    e->congested = 0;
    return result;
}

/* forget(fd) -> totals or None: the socket is about to be closed (its number may come back
 * for another stream): unregistered and its destination gone. Events kept back for it are
 * dropped. */
static PyObject *forget(PyObject *self, PyObject *fd_obj)
{
    int fd;
    if (as_int(fd_obj, &fd) < 0)
        return NULL;
    struct entry *e = lookup(fd);
    if (e == NULL)
        Py_RETURN_NONE;
    PyObject *result;
    if (e->settled) {
        result = totals_of(e);
    } else {
        Py_INCREF(Py_None);
        result = Py_None;
    }
    memset(e, 0, sizeof(*e));
    int kept = 0;
    for (int i = 0; i < pending_count; i++)
        if (pending[i].data.fd != fd)
            pending[kept++] = pending[i];
    pending_count = kept;
    return result;
}

/* attach(buffer): the counter table relayed packets are counted in. The buffer (the
 * worker's mmap) stays exported for the life of the process. */
static PyObject *attach(PyObject *self, PyObject *buffer)
{
    if (attached) {
        PyBuffer_Release(&counters);
        attached = 0;
    }
    if (PyObject_GetBuffer(buffer, &counters, PyBUF_WRITABLE) < 0)
        return NULL;
    attached = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"run", run, METH_VARARGS, "Wait and relay settled streams until something needs Python."},
    {"destination", destination, METH_VARARGS, "Set or clear where a stream's socket sends to."},
    {"register", register_, METH_VARARGS, "Relay a settled stream here."},
    {"unregister", unregister, METH_O, "Give a stream (and its counters) back to Python."},
    {"totals", totals, METH_O, "Counters of a registered stream."},
    {"forget", forget, METH_O, "Drop a socket about to be closed."},
    {"attach", attach, METH_O, "The counter table relayed packets are counted in."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_relay", "The relay worker's event loop for settled plain streams.",
    -1, methods,
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
        PyModule_AddIntConstant(m, "API", 3);
    }
    return m;
}
