/* rtpengined.media._relay: the relay worker's event loop for settled plain streams, in C.
 *
 * At RTP rates nearly every packet is a wakeup of its own, and a wakeup that goes through
 * Python (epoll.poll, the dispatch loop, the drain's checks, two helper calls) cost more
 * than twice what rtpengine spends per packet. So the worker's loop itself is here:
 * ``run`` waits on the worker's epoll set and relays every ready socket that is registered
 * in a C-side table of *settled* streams (confirmed, no source checks, no RTCP demux, one
 * sink; plain, SDES-SRTP or a WebRTC leg whose handshake is done and whose peer is known)
 * without returning to Python: one ``recvmmsg`` for everything waiting, the stream's
 * counters written to its shared-memory slot, one ``sendmmsg`` to the sink's destination.
 * It returns to Python only with what it cannot handle: the control channel, streams that
 * are not in the table (learning, strict source, handover, demux, a WebRTC leg still
 * connecting, blocked), a sink whose destination is not a sockaddr of its socket's family,
 * a WebRTC leg's datagrams that are not media from its peer (STUN consent checks, DTLS,
 * another source: kept in the entry, in order, for Python's drain_webrtc with ``held``),
 * counters Python must flush (kernel drops, send errors), or the timeout Python asked for
 * (its timers and its counter flush).
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
static struct sockaddr_storage names[MAX_BATCH]; /* sources, for a filtered (WebRTC) entry */

/* SrtpContext: one direction of one stream's SRTP/SRTCP, done by the libsrtp session of a
 * pylibsrtp context (rtpengined.secure.srtp.SrtpContext), called directly. pylibsrtp's
 * libsrtp is built with OpenSSL (AES-NI, and every suite and session parameter the relay
 * does, its crypto policy written by secure/srtp.py); Python only hands over the session
 * and libsrtp's four transforms as addresses (``SrtpContext.handles``) and this object
 * keeps the pylibsrtp session that owns them alive. The worker uses it in both loops
 * (Python's drain calls its methods, the C loop the same session), so a stream moving
 * between the loops keeps one replay window and rollover counter. Sizes as pylibsrtp's:
 * at most 1500 bytes with the trailer. */
#define SRTP_BUFFER 1500
#define SRTP_TRAILER 144 /* libsrtp 2's SRTP_MAX_TRAILER_LEN: the longest tag and MKI */
#define SRTCP_TRAILER (SRTP_TRAILER + 4)

/* libsrtp 2's srtp_protect & co.: (srtp_t, void *packet, int *length) -> srtp_err_status_t,
 * an enum whose "ok" is 0. */
typedef int (*transform)(void *, void *, int *);

/* What the rollover guesses of unprotect_rtp call: libsrtp 2's srtp_create, srtp_dealloc,
 * srtp_add_stream, srtp_remove_stream (SSRC in network order), srtp_get_stream_roc and
 * srtp_set_stream_roc (SSRC in host order; a ROC set is "pending": the next packet of the
 * SSRC is taken as of that ROC, and 0 sets none), and the context's srtp_policy_t. */
typedef int (*session_create)(void **, const void *);
typedef int (*session_dealloc)(void *);
typedef int (*stream_add)(void *, const void *);
typedef int (*stream_remove)(void *, uint32_t);
typedef int (*roc_get)(void *, uint32_t, uint32_t *);
typedef int (*roc_set)(void *, uint32_t, uint32_t);
#define SRTP_AUTH_FAIL 7 /* srtp_err_status_auth_fail */
#define SSRC_SPECIFIC 1  /* ssrc_specific: srtp_ssrc_t {type, value} leads srtp_policy_t */
#define POLICY_MAX 256

struct guesses {
    char policy[POLICY_MAX];
    size_t policy_size;
    session_create create;
    session_dealloc dealloc;
    stream_add add;
    stream_remove remove;
    roc_get get_roc;
    roc_set set_roc;
    void *scratch; /* a session of the same key where a guess may fail harmlessly, or NULL */
};

typedef struct {
    PyObject_HEAD
    void *session;
    transform protect, unprotect, protect_rtcp, unprotect_rtcp;
    struct guesses *guesses; /* NULL: packets libsrtp refuses are not guessed at */
    PyObject *owner;
} Context;

static PyTypeObject ContextType;

/* The guesses' part of the constructor: (policy, policy size, srtp_create, srtp_dealloc,
 * srtp_add_stream, srtp_remove_stream, srtp_get_stream_roc, srtp_set_stream_roc), the
 * policy's bytes copied (its key stays where it is: the owner keeps it). */
static struct guesses *guesses_new(PyObject *arg)
{
    unsigned long long policy, size, fns[6];
    if (!PyArg_ParseTuple(arg, "KKKKKKKK", &policy, &size, &fns[0], &fns[1], &fns[2],
                          &fns[3], &fns[4], &fns[5]))
        return NULL;
    if (!policy || size < 2 * sizeof(unsigned int) || size > POLICY_MAX || !fns[0] || !fns[1]
        || !fns[2] || !fns[3] || !fns[4] || !fns[5]) {
        PyErr_SetString(PyExc_ValueError, "a null libsrtp call or an unexpected policy");
        return NULL;
    }
    struct guesses *g = PyMem_Calloc(1, sizeof *g);
    if (g == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(g->policy, (const void *)(uintptr_t)policy, (size_t)size);
    g->policy_size = (size_t)size;
    g->create = (session_create)(uintptr_t)fns[0];
    g->dealloc = (session_dealloc)(uintptr_t)fns[1];
    g->add = (stream_add)(uintptr_t)fns[2];
    g->remove = (stream_remove)(uintptr_t)fns[3];
    g->get_roc = (roc_get)(uintptr_t)fns[4];
    g->set_roc = (roc_set)(uintptr_t)fns[5];
    return g;
}

/* SrtpContext(owner, session, protect, unprotect, protect_rtcp, unprotect_rtcp[, guesses]):
 * the addresses as integers, ``guesses`` as guesses_new takes them (or None); ``owner`` is
 * kept for as long as this context lives. */
static PyObject *context_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *owner, *guess_arg = Py_None;
    unsigned long long session, fns[4];
    if (!PyArg_ParseTuple(args, "OKKKKK|O", &owner, &session, &fns[0], &fns[1], &fns[2],
                          &fns[3], &guess_arg))
        return NULL;
    if (session == 0 || !fns[0] || !fns[1] || !fns[2] || !fns[3]) {
        PyErr_SetString(PyExc_ValueError, "a null libsrtp session or transform");
        return NULL;
    }
    struct guesses *guesses = NULL;
    if (guess_arg != Py_None && (guesses = guesses_new(guess_arg)) == NULL)
        return NULL;
    Context *self = (Context *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PyMem_Free(guesses);
        return NULL;
    }
    self->guesses = guesses;
    self->session = (void *)(uintptr_t)session;
    self->protect = (transform)(uintptr_t)fns[0];
    self->unprotect = (transform)(uintptr_t)fns[1];
    self->protect_rtcp = (transform)(uintptr_t)fns[2];
    self->unprotect_rtcp = (transform)(uintptr_t)fns[3];
    Py_INCREF(owner);
    self->owner = owner;
    return (PyObject *)self;
}

static void context_dealloc(Context *self)
{
    if (self->guesses != NULL) {
        if (self->guesses->scratch != NULL)
            self->guesses->dealloc(self->guesses->scratch);
        PyMem_Free(self->guesses);
    }
    Py_CLEAR(self->owner); /* the pylibsrtp session frees the libsrtp one */
    Py_TYPE(self)->tp_free((PyObject *)self);
}


/* A stream of ``ssrc`` in ``session`` of its own (not the template's clone), whose next
 * packet is taken as of rollover counter ``roc`` (at least 1). */
static int add_stream(struct guesses *g, void *session, uint32_t ssrc, uint32_t roc)
{
    char policy[POLICY_MAX];
    unsigned int head[2] = {SSRC_SPECIFIC, ssrc};
    memcpy(policy, g->policy, g->policy_size);
    memcpy(policy, head, sizeof head);
    if (g->add(session, policy) != 0)
        return -1;
    return g->set_roc(session, ssrc, roc) == 0 ? 0 : -1;
}

/* ``packet`` unprotected in ``session`` as of rollover counter ``roc`` for its SSRC: that
 * SSRC's stream replaced by one at ``roc`` (none for 0: the template then takes the
 * packet's sequence number as its index, as for a stream's first packet). */
static int try_roc(Context *c, void *session, uint32_t ssrc, uint32_t roc, const char *packet,
                   int size, char *data, int *len)
{
    struct guesses *g = c->guesses;
    g->remove(session, htonl(ssrc));
    if (roc > 0 && add_stream(g, session, ssrc, roc) < 0)
        return -1;
    memcpy(data, packet, (size_t)size);
    *len = size;
    return c->unprotect(session, data, len) == 0 ? 0 : -1;
}

/* An SRTP packet unprotected in place: 0, or -1 when libsrtp refuses it. libsrtp estimates
 * the sender's rollover counter (ROC) from the sequence number; a packet that then fails
 * authentication gets guesses before it is dropped, as 10.5 guesses: one rollover more
 * than the stream is at (one the sender counted where we did not see it), the stream's own
 * (where a sequence number far from the last made libsrtp's estimate one off it), one
 * fewer, and zero (a sender that started its counter anew, as some do on a re-INVITE
 * keeping key and SSRC); for an SSRC's first packet, one (a sender that counted a rollover
 * at its first sequence number 0). 10.5 guesses from its estimate for the packet, one
 * either side, which libsrtp does not tell: ROCs two off the stream's are not tried.
 * Only authentication failures are guessed at: a packet whose estimated index libsrtp's
 * replay window has seen stays a replay (10.5 keeps no window, and guesses on). A guess
 * that fails leaves the stream as it was: the one-rollover-more guess is libsrtp's
 * pending ROC (cleared again), the others are tried in a scratch session of the same key,
 * and the stream is replaced only by one that took the packet. */
static int unprotect_rtp(Context *c, char *data, int *len)
{
    int size = *len;
    if (c->guesses == NULL || size < 12 || size > SRTP_BUFFER)
        return c->unprotect(c->session, data, len) == 0 ? 0 : -1;
    char packet[SRTP_BUFFER]; /* as it came: a failed AEAD decryption leaves its output */
    memcpy(packet, data, (size_t)size);
    int status = c->unprotect(c->session, data, len);
    if (status != SRTP_AUTH_FAIL)
        return status == 0 ? 0 : -1;
    struct guesses *g = c->guesses;
    uint32_t ssrc, roc;
    memcpy(&ssrc, packet + 8, sizeof ssrc);
    ssrc = ntohl(ssrc);
    if (g->get_roc(c->session, ssrc, &roc) != 0) { /* the first packet: no stream yet */
        if (try_roc(c, c->session, ssrc, 1, packet, size, data, len) == 0)
            return 0;
        g->remove(c->session, htonl(ssrc));
        return -1;
    }
    if (roc + 1 != 0 && g->set_roc(c->session, ssrc, roc + 1) == 0) {
        memcpy(data, packet, (size_t)size);
        *len = size;
        status = c->unprotect(c->session, data, len);
        g->set_roc(c->session, ssrc, 0); /* (a pending ROC another packet must not see) */
        if (status == 0)
            return 0;
    }
    if (g->scratch == NULL && g->create(&g->scratch, g->policy) != 0) {
        g->scratch = NULL;
        return -1;
    }
    /* the stream's own ROC (libsrtp's estimate may have been one off it), one fewer, zero */
    uint32_t guesses[3];
    int count = 0;
    if (roc >= 1)
        guesses[count++] = roc;
    if (roc >= 2)
        guesses[count++] = roc - 1;
    guesses[count++] = 0;
    for (int i = 0; i < count; i++) {
        if (try_roc(c, g->scratch, ssrc, guesses[i], packet, size, data, len) == 0)
            return try_roc(c, c->session, ssrc, guesses[i], packet, size, data, len);
    }
    return -1;
}

/* One transform in place (SRTP unprotected with the rollover guesses): 0, or -1 when
 * libsrtp refuses (authentication, replay, size). */
static int transform_in_place(Context *context, transform func, char *data, int *len)
{
    if (func == context->unprotect)
        return unprotect_rtp(context, data, len);
    return func(context->session, data, len) == 0 ? 0 : -1;
}

static int apply(Context *context, transform func, char *data, int *len, int trailer)
{
    if (*len > SRTP_BUFFER - trailer)
        return -1;
    return transform_in_place(context, func, data, len);
}

static PyObject *context_process(Context *self, PyObject *packet, transform func, int trailer)
{
    if (!PyBytes_Check(packet)) {
        PyErr_SetString(PyExc_TypeError, "packet must be bytes");
        return NULL;
    }
    char buffer[SRTP_BUFFER];
    int len = (int)(PyBytes_GET_SIZE(packet) < SRTP_BUFFER ? PyBytes_GET_SIZE(packet)
                                                             : SRTP_BUFFER + 1);
    if (len > SRTP_BUFFER - trailer) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    memcpy(buffer, PyBytes_AS_STRING(packet), (size_t)len);
    if (transform_in_place(self, func, buffer, &len) < 0) {
        PyErr_SetString(PyExc_ValueError, "libsrtp refused the packet");
        return NULL;
    }
    return PyBytes_FromStringAndSize(buffer, len);
}

static PyObject *context_protect(Context *self, PyObject *packet)
{
    return context_process(self, packet, self->protect, SRTP_TRAILER);
}

static PyObject *context_unprotect(Context *self, PyObject *packet)
{
    return context_process(self, packet, self->unprotect, 0);
}

static PyObject *context_protect_rtcp(Context *self, PyObject *packet)
{
    return context_process(self, packet, self->protect_rtcp, SRTCP_TRAILER);
}

static PyObject *context_unprotect_rtcp(Context *self, PyObject *packet)
{
    return context_process(self, packet, self->unprotect_rtcp, 0);
}

static PyMethodDef context_methods[] = {
    {"protect", (PyCFunction)context_protect, METH_O, "Protect an RTP packet."},
    {"unprotect", (PyCFunction)context_unprotect, METH_O, "Unprotect an SRTP packet."},
    {"protect_rtcp", (PyCFunction)context_protect_rtcp, METH_O, "Protect an RTCP packet."},
    {"unprotect_rtcp", (PyCFunction)context_unprotect_rtcp, METH_O, "Unprotect an SRTCP packet."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ContextType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rtpengined.media._relay.SrtpContext",
    .tp_basicsize = sizeof(Context),
    .tp_dealloc = (destructor)context_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One direction of SRTP/SRTCP (a pylibsrtp session's libsrtp, called directly).",
    .tp_methods = context_methods,
    .tp_new = context_new,
};

/* What a WebRTC leg's entry has besides (allocated with its first filter, freed by
 * forget): the peer media is taken from, and the datagrams held for Python. */
struct leg {
    PyObject *held; /* list of (bytes, source) not taken by Python yet, or NULL */
    int family;     /* of ``peer``: AF_INET or AF_INET6 */
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
};

/* One entry per file descriptor of the worker's stream sockets. (One per socket of every
 * open call: fields ordered for no padding, a WebRTC leg's part apart; 152 bytes, the
 * last flags in what was the tail padding.) */
struct entry {
    uint8_t known;    /* a destination was set (the fd is a stream's socket) */
    uint8_t settled;  /* registered: relayed here */
    uint8_t dest_state;
    uint8_t seen;     /* the slot's ssrc_seen byte: bit 0 SSRC seen, bit 1 RTCP seen */
    uint8_t payload_type; /* the slot's payload_type byte: 0x80 | type, 0 for none */
    uint8_t congested; /* a drain found CONGESTED or more packets since the last totals() */
    /* A WebRTC (ICE/DTLS) leg's stream: only SRTP/SRTCP/RTP (first byte 128..191, RFC
     * 7983) from exactly ``leg->peer`` is relayed here; the first datagram that is anything
     * else (STUN, DTLS, another source) and everything after it in the batch go to
     * ``leg->held`` as (bytes, source) for Python's drain_webrtc, and the fd goes back to
     * Python. (``leg`` is set whenever ``filter`` is.) */
    uint8_t filter;
    uint8_t dest_len;  /* of ``dest``: 0, or a sockaddr_in's or sockaddr_in6's size */
    int sink;          /* fd of the stream the packets are sent from */
    /* RTCP demux (a muxed stream relayed to a sink that is not): RTCP goes out from
     * ``rtcp_sink``'s socket to its destination (the sink's RTCP stream), protected with
     * ``rtcp_protect``; -1 and NULL without demux. */
    int rtcp_sink;
    Py_ssize_t offset; /* byte offset of the stream's counter slot */
    uint64_t packets, bytes, errors;
    double last;
    uint32_t ssrc;
    /* For the RTCP reports the relay sends itself (a media player's, ``reception``): the
     * sequence number of the last RTP packet (-1: none yet); the middle 32 bits of the
     * NTP time of the last RTCP sender report and when it arrived (wall clock in 1/65536
     * s, modulo 2^32: a DLSR's unit), lsr_at 0 for none. */
    int32_t seq;
    uint32_t lsr, lsr_at;
    PyObject *unprotect; /* SrtpContext for what arrives here, or NULL (plain) */
    PyObject *protect;   /* the sink's outbound SrtpContext, or NULL (plain) */
    PyObject *rtcp_protect;
    struct leg *leg;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } dest;
    /* The contexts are for RTCP only: RTP goes on as it came (a leg whose SDES keys pass
     * end to end; 10.5 decrypts its SRTCP all the same, for the reports and counts). */
    uint8_t rtcp_keys_only;
    /* RTCP feedback (RTPFB, PSFB) is cut out of the compounds relayed: an AVPF party's to a
     * leg that is not AVPF (``strip_feedback`` below). */
    uint8_t strip_feedback;
    /* An RTCP port (not muxed): every packet is read as RTCP (``refused``). */
    uint8_t rtcp_port;
    /* rtcp-mux on the port: RTCP is what ``is_rtcp`` says (without it and not an RTCP
     * port: nothing is, ``taken_for_rtcp``). */
    uint8_t muxed;
    /* The stream's payload types, bit n for type n (all set: none checked): RTP of
     * another type is an error of the stream, relayed all the same (``unknown_type``). */
    uint64_t payload_types[2];
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

/* The fd argument of unregister/totals/forget/held and its entry (NULL: never in the
 * table); -1 with a Python error for an argument that is not an int. */
static int entry_arg(PyObject *fd_obj, int *fd, struct entry **e)
{
    if (as_int(fd_obj, fd) < 0)
        return -1;
    *e = lookup(*fd);
    return 0;
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

#define HANDBACK 2 /* relay(): datagrams were held for Python (bit 0: flush the stream) */

/* Whether received datagram ``i`` came from the entry's peer (the whole sockaddr as Python
 * compares the tuples recvfrom gives: address, port, and for IPv6 flow info and scope). */
static int from_peer(struct entry *e, int i)
{
    const struct sockaddr_storage *name = &names[i];
    socklen_t len = msgs[i].msg_hdr.msg_namelen;
    const struct leg *leg = e->leg;
    if (leg->family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)name;
        return len >= sizeof(*a) && a->sin_family == AF_INET
               && a->sin_port == leg->peer.v4.sin_port
               && a->sin_addr.s_addr == leg->peer.v4.sin_addr.s_addr;
    }
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)name;
    return len >= sizeof(*a) && a->sin6_family == AF_INET6
           && a->sin6_port == leg->peer.v6.sin6_port
           && a->sin6_flowinfo == leg->peer.v6.sin6_flowinfo
           && a->sin6_scope_id == leg->peer.v6.sin6_scope_id
           && memcmp(&a->sin6_addr, &leg->peer.v6.sin6_addr, sizeof(a->sin6_addr)) == 0;
}

/* How many of the ``count`` datagrams received, from the first, are media from the peer. */
static int media_prefix(struct entry *e, int count)
{
    for (int i = 0; i < count; i++) {
        unsigned char first = msgs[i].msg_len ? (unsigned char)slots[(size_t)i * SLOT] : 0;
        if (first < 128 || first > 191 || !from_peer(e, i))
            return i;
    }
    return count;
}

/* The source of received datagram ``i`` as socket.recvfrom gives it. */
static PyObject *source_of(int i)
{
    char text[INET6_ADDRSTRLEN];
    const struct sockaddr_storage *name = &names[i];
    if (name->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)name;
        if (inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text)) == NULL)
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(si)", text, (int)ntohs(a->sin_port));
    }
    if (name->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)name;
        if (inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text)) == NULL)
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(siII)", text, (int)ntohs(a->sin6_port),
                             (unsigned int)ntohl(a->sin6_flowinfo),
                             (unsigned int)a->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

/* Datagrams ``first``..``end``-1 of this receive, in order, to the leg's ``held`` list. */
static int hold(struct entry *e, int first, int end)
{
    struct leg *leg = e->leg;
    if (leg->held == NULL && (leg->held = PyList_New(0)) == NULL)
        return -1;
    for (int i = first; i < end; i++) {
        PyObject *source = source_of(i);
        if (source == NULL)
            return -1;
        PyObject *item = Py_BuildValue("(y#N)", slots + (size_t)i * SLOT,
                                       (Py_ssize_t)msgs[i].msg_len, source);
        if (item == NULL || PyList_Append(leg->held, item) < 0) {
            Py_XDECREF(item);
            return -1;
        }
        Py_DECREF(item);
    }
    return 0;
}

/* The packets of one drain that are sent on (RTCP demuxed to the sink's RTCP stream
 * apart), in order. */
static struct mmsghdr outs[MAX_BATCH], rtcp_outs[MAX_BATCH];

/* Send ``n`` packets of ``batch`` from ``fd`` to ``to``'s destination; how many failed. */
static int send_all(int fd, struct entry *to, struct mmsghdr *batch, int n)
{
    for (int i = 0; i < n; i++) {
        batch[i].msg_hdr.msg_name = &to->dest;
        batch[i].msg_hdr.msg_namelen = to->dest_len;
    }
    int sent = 0, failed = 0;
    while (sent < n) {
        int done = sendmmsg(fd, batch + sent, (unsigned)(n - sent), MSG_DONTWAIT);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            failed++; /* this packet is refused: count it, go on with the next */
            sent++;
        } else {
            sent += done;
        }
    }
    return failed;
}

/* RTCP sender, receiver and extended reports relayed here (decrypted), for the call quality figures
 * Python works out from them (rtpengined.quality): kept until ``reports()`` takes them.
 * A few per stream and minute: a small bounded queue (more are dropped until taken). */
#define MAX_REPORTS 64
#define REPORT_BYTES 512
static struct report {
    int fd;
    double wall;
    unsigned len;
    char data[REPORT_BYTES];
} reports_queue[MAX_REPORTS];
static int reports_count;

static void note_report(int fd, double wall, const char *data, int len)
{
    if (len < 8 || reports_count >= MAX_REPORTS)
        return;
    unsigned char kind = (unsigned char)data[1];
    if (kind != 200 && kind != 201 && kind != 207)
        return;
    struct report *r = &reports_queue[reports_count++];
    r->fd = fd;
    r->wall = wall;
    r->len = (unsigned)(len < REPORT_BYTES ? len : REPORT_BYTES);
    memcpy(r->data, data, r->len);
}

/* reports() -> [(fd, wall, packet)]: the RTCP reports relayed since the last call. */
static PyObject *reports(PyObject *self, PyObject *unused)
{
    PyObject *out = PyList_New(reports_count);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < reports_count; i++) {
        struct report *r = &reports_queue[i];
        PyObject *item = Py_BuildValue("(idy#)", r->fd, r->wall, r->data, (Py_ssize_t)r->len);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, item);
    }
    reports_count = 0;
    return out;
}

/* The smallest packet of an RTCP type 10.5 accepts in a compound (its fixed part). */
static int smallest_rtcp(unsigned char kind)
{
    switch (kind) {
    case 200: return 28;                     /* SR: sender info */
    case 201: case 207: return 8;            /* RR, XR: the SSRC */
    case 204: case 205: case 206: return 12; /* APP: name; RTPFB, PSFB: media SSRC */
    default: return 4;                       /* SDES, BYE, the rest: the header */
    }
}

/* Read the RTCP compound ``data`` packet by packet as 10.5 does, as
 * rtpengined.media.rtcp_feedback._walk does (the module says how 10.5 reads compounds;
 * both must agree, tests/test_rtcp_feedback.py runs the same cases on both): -1 when it
 * does not parse, else the length left with ``cut`` taking its RTPFB and PSFB packets out
 * in place (0: nothing left), ``len`` without. */
static int walk_rtcp(unsigned char *data, int len, int cut)
{
    int offset = 0, out = 0;
    while (len - offset >= 4) {
        int length = (((int)data[offset + 2] << 8 | data[offset + 3]) + 1) * 4;
        if (length > len - offset)
            break; /* overruns the datagram: the rest goes on unread */
        unsigned char first = data[offset], kind = data[offset + 1];
        if (first >> 6 != 2 || length < smallest_rtcp(kind))
            return -1;
        if ((kind == 200 || kind == 201) && length < (first & 0x1F) * 24)
            return -1;
        if (!cut || (kind != 205 && kind != 206)) {
            if (out != offset)
                memmove(data + out, data + offset, (size_t)length);
            out += length;
        }
        offset += length;
    }
    if (out != offset)
        memmove(data + out, data + offset, (size_t)(len - offset));
    return out + (len - offset);
}

static int strip_feedback(unsigned char *data, int len)
{
    return walk_rtcp(data, len, 1);
}

/* Whether 10.5 takes ``data`` for RTCP on stream ``e``, as
 * rtpengined.media.rtcp_feedback.taken_for_rtcp says: everything on an RTCP port, on a port
 * with rtcp-mux 8 bytes or more whose second byte is 194..223, nothing on another. */
static inline int taken_for_rtcp(const struct entry *e, const unsigned char *data, int len)
{
    return e->rtcp_port || (e->muxed && len >= 8 && data[1] >= 194 && data[1] <= 223);
}

/* Whether 10.5 drops ``data`` (decrypted) arriving on a stream, an error of that stream,
 * as rtpengined.media.rtcp_feedback.refused says: on an RTCP port (``rtcp_port``: not
 * muxed) whatever it cannot read, on a port with rtcp-mux RTCP it cannot read. */
static int refused(unsigned char *data, int len, int rtcp_port)
{
    if (rtcp_port || (len >= 8 && data[1] >= 194 && data[1] <= 223))
        return walk_rtcp(data, len, 0) < 0;
    return 0;
}

/* Whether 10.5 decrypts ``data``, SRTCP as it arrived (rtcp_feedback.srtcp_header_ok):
 * 8 bytes or more, version 2, a first packet of type 200..207. */
static inline int srtcp_header_ok(const unsigned char *data, int len)
{
    return len >= 8 && data[0] >> 6 == 2 && data[1] >= 200 && data[1] <= 207;
}

/* Whether RTP ``data`` has a header 10.5 parses: version 2, its CSRCs and extension
 * header within the packet. */
static int rtp_header_fits(const unsigned char *data, int len)
{
    if (len < 12 || data[0] >> 6 != 2)
        return 0;
    int header = 12 + 4 * (data[0] & 0x0F);
    if (data[0] & 0x10) { /* an extension header: its 4-byte head, its length in words */
        if (header + 4 > len)
            return 0;
        header += 4 + 4 * ((int)data[header + 2] << 8 | data[header + 3]);
    }
    return header <= len;
}

/* Whether 10.5 counts RTP ``data`` as an error of a stream whose payload types are the
 * bits of ``types`` (rtcp_feedback.unknown_type): a header that parses with a payload
 * type not among them. The usual packet costs the look at its second byte. */
static inline int unknown_type(const uint64_t *types, const unsigned char *data, int len)
{
    if (len < 2)
        return 0;
    unsigned pt = data[1] & 0x7F;
    if (__builtin_expect((types[pt >> 6] >> (pt & 63)) & 1, 1))
        return 0;
    return rtp_header_fits(data, len);
}

/* unknown_type(packet, types) -> bool: the C loop's verdict (``types`` a mask, -1 for
 * every type), for the tests. */
static PyObject *unknown_type_py(PyObject *self, PyObject *args)
{
    const char *packet;
    Py_ssize_t size;
    PyObject *mask;
    if (!PyArg_ParseTuple(args, "y#O", &packet, &size, &mask))
        return NULL;
    if (size > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    uint64_t types[2];
    for (int half = 0; half < 2; half++) {
        PyObject *shift = PyLong_FromLong(64 * half);
        PyObject *shifted = shift ? PyNumber_Rshift(mask, shift) : NULL;
        Py_XDECREF(shift);
        if (shifted == NULL)
            return NULL;
        types[half] = (uint64_t)PyLong_AsUnsignedLongLongMask(shifted);
        Py_DECREF(shifted);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyBool_FromLong(unknown_type(types, (const unsigned char *)packet, (int)size));
}

/* srtcp_header_ok(packet) -> bool: the C loop's verdict, for the tests. */
static PyObject *srtcp_header_ok_py(PyObject *self, PyObject *packet)
{
    if (!PyBytes_Check(packet)) {
        PyErr_SetString(PyExc_TypeError, "packet must be bytes");
        return NULL;
    }
    return PyBool_FromLong(srtcp_header_ok((const unsigned char *)PyBytes_AS_STRING(packet),
                                           PyBytes_GET_SIZE(packet) > INT_MAX
                                           ? INT_MAX : (int)PyBytes_GET_SIZE(packet)));
}

/* refused(packet, rtcp_port) -> bool: the C loop's verdict, for the tests. */
static PyObject *refused_py(PyObject *self, PyObject *args)
{
    const char *packet;
    Py_ssize_t size;
    int rtcp_port;
    if (!PyArg_ParseTuple(args, "y#p", &packet, &size, &rtcp_port))
        return NULL;
    if (size > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    return PyBool_FromLong(refused((unsigned char *)packet, (int)size, rtcp_port));
}

/* strip_feedback(compound) -> bytes or None: the C loop's filter, for the tests. */
static PyObject *strip_feedback_py(PyObject *self, PyObject *compound)
{
    if (!PyBytes_Check(compound)) {
        PyErr_SetString(PyExc_TypeError, "compound must be bytes");
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(compound);
    if (size > SLOT) {
        PyErr_SetString(PyExc_ValueError, "compound is too long");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(PyBytes_AS_STRING(compound), size);
    if (out == NULL)
        return NULL;
    int kept = strip_feedback((unsigned char *)PyBytes_AS_STRING(out), (int)size);
    if (kept < 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (_PyBytes_Resize(&out, kept) < 0)
        return NULL;
    return out;
}

/* Streams not relayed here that a compound left empty by the strip was for: an error of
 * theirs (10.5 counts it on the stream it was for), which Python counts (``run`` hands
 * them over). Beyond MAX_STRAYS in one ``run`` they are not counted. */
#define MAX_STRAYS 256
static int strays[MAX_STRAYS];
static int stray_count;

/* A compound the strip left empty, for the stream ``fd`` sends from: one error of it. */
static void count_emptied(int fd)
{
    struct entry *target = lookup(fd);
    if (target != NULL && target->settled) {
        target->errors += 1;
        publish(target, 0);
    } else if (stray_count < MAX_STRAYS) {
        strays[stray_count++] = fd;
    }
}

/* Relay what waits on settled stream ``fd`` (at most MAX_BATCH packets): receive, count
 * and publish, send on; with SRTP on either side, each packet unprotected with the
 * stream's context and protected with its sink's (as Worker.drain_secure does: a packet
 * libsrtp refuses is an error and is dropped), only RTCP ones with ``rtcp_keys_only``; with
 * ``strip_feedback``, RTCP without its feedback (after decryption, before encryption).
 * What 10.5 takes for RTCP (``taken_for_rtcp``) and would not read is dropped after
 * decryption (``refused``); RTP of a payload type the stream does not know is an error,
 * relayed all the same (``unknown_type``).
 * Returns 1 when Python must flush the stream (congestion or a refused send: its kernel
 * drops or errors go out with the next flush, as in Python). */
static int relay(int fd, struct entry *e, double wall)
{
    int count, error = 0;
    if (e->filter)
        for (int i = 0; i < MAX_BATCH; i++) {
            msgs[i].msg_hdr.msg_name = &names[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
        }
    do {
        count = recvmmsg(fd, msgs, MAX_BATCH, MSG_DONTWAIT, NULL);
    } while (count < 0 && errno == EINTR);
    if (count < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            error = 1;
        count = 0;
    }
    int received = count, handback = 0;
    if (e->filter && count) {
        PyObject *held = e->leg->held;
        int kept = held != NULL && PyList_GET_SIZE(held) ? 0 : media_prefix(e, count);
        if (kept < count) {
            handback = HANDBACK;
            if (hold(e, kept, count) < 0)
                PyErr_Clear(); /* out of memory: those datagrams are lost, as a full socket's */
            count = kept;
        }
    }
    if (!count) {
        for (int i = 0; i < received; i++)
            reset(i);
        if (error) {
            e->errors += 1;
            publish(e, 0);
        }
        return handback;
    }
    uint64_t nbytes = 0;
    for (int i = 0; i < count; i++)
        nbytes += msgs[i].msg_len;
    e->packets += (uint64_t)count;
    e->bytes += nbytes;
    e->errors += (uint64_t)error;
    e->last = wall;
    struct entry *sink = lookup(e->sink);
    int sending = sink != NULL && sink->dest_state == DEST_PACKED;
    struct entry *rtcp_sink = e->rtcp_sink >= 0 ? lookup(e->rtcp_sink) : NULL;
    int rtcp_sending = rtcp_sink != NULL && rtcp_sink->dest_state == DEST_PACKED;
    /* The last packet as received (decrypted): what Worker.publish looks at. */
    unsigned char head[16];
    unsigned size = 0;
    int out = 0, rtcp_out = 0;
    if (e->unprotect != NULL || e->protect != NULL || e->rtcp_sink >= 0 || e->strip_feedback) {
        for (int i = 0; i < count; i++) {
            char *data = slots + (size_t)i * SLOT;
            int len = (int)msgs[i].msg_len;
            int rtcp = taken_for_rtcp(e, (unsigned char *)data, len);
            if (!rtcp && unknown_type(e->payload_types, (unsigned char *)data, len))
                e->errors += 1; /* (its clear header, before decryption: 10.5) */
            int keyed = rtcp || !e->rtcp_keys_only; /* (else SRTP passed as it came) */
            if (e->unprotect != NULL && keyed) {
                /* As 10.5 counts an SRTP leg: a packet libsrtp refuses, or SRTCP whose
                 * clear header 10.5 does not decrypt, is an error, not a packet of the
                 * stream; the others count decrypted. */
                int received = len;
                Context *c = (Context *)e->unprotect;
                if ((rtcp && !srtcp_header_ok((unsigned char *)data, len))
                    || apply(c, rtcp ? c->unprotect_rtcp : c->unprotect, data, &len, 0) < 0) {
                    e->errors += 1;
                    e->packets -= 1;
                    e->bytes -= (uint64_t)received;
                    continue;
                }
                e->bytes -= (uint64_t)(received - len);
            }
            if (rtcp) { /* (decrypted, counted as received: 10.5) */
                if (refused((unsigned char *)data, len, e->rtcp_port)) {
                    e->errors += 1;
                    continue;
                }
            }
            if (rtcp)
                note_report(fd, wall, data, len);
            size = (unsigned)len;
            memcpy(head, data, size < 16 ? size : 16);
            int demux = rtcp && e->rtcp_sink >= 0; /* to the sink's RTCP stream */
            if (rtcp && e->strip_feedback) { /* (decrypted, counted as received: 10.5) */
                int kept = strip_feedback((unsigned char *)data, len);
                if (kept <= 0) {
                    if (kept < 0)
                        e->errors += 1; /* unreadable: dropped, an error of this stream */
                    else
                        count_emptied(demux ? e->rtcp_sink : e->sink);
                    continue;
                }
                len = kept;
            }
            if (!(demux ? rtcp_sending : sending))
                continue; /* nowhere to send it: dropped quietly, not protected */
            Context *protect = (Context *)(demux ? e->rtcp_protect : e->protect);
            if (protect != NULL && keyed
                && apply(protect, rtcp ? protect->protect_rtcp : protect->protect, data, &len,
                         rtcp ? SRTCP_TRAILER : SRTP_TRAILER) < 0) {
                e->errors += 1;
                continue;
            }
            iovs[i].iov_len = (size_t)len;
            if (demux)
                rtcp_outs[rtcp_out++].msg_hdr = msgs[i].msg_hdr;
            else
                outs[out++].msg_hdr = msgs[i].msg_hdr;
        }
    } else {
        size = msgs[count - 1].msg_len;
        memcpy(head, slots + (size_t)(count - 1) * SLOT, size < 16 ? size : 16);
        for (int i = 0; i < count; i++) {
            unsigned char *data = (unsigned char *)slots + (size_t)i * SLOT;
            int len = (int)msgs[i].msg_len;
            /* RTCP is read before it is relayed; RTP costs a look at its second byte (its
             * payload type among the stream's: else an error, relayed all the same) */
            if (taken_for_rtcp(e, data, len)) {
                if (refused(data, len, e->rtcp_port)) {
                    e->errors += 1;
                    continue;
                }
                note_report(fd, wall, (char *)data, len); /* (it keeps SR, RR and XR only) */
            } else if (unknown_type(e->payload_types, data, len)) {
                e->errors += 1;
            }
            if (sending) {
                iovs[i].iov_len = (size_t)len;
                outs[out++].msg_hdr = msgs[i].msg_hdr;
            }
        }
    }
    /* What Worker.publish takes from the last packet: its SSRC, for RTP its payload type
     * (a new one is written with the traffic), the first RTCP on the port. */
    int with_type = 0;
    if (size >= 8 && (head[0] & 0xC0) == 0x80) {
        unsigned marker = head[1];
        int rtcp = marker >= 192 && marker <= 223;
        if (rtcp) {
            e->ssrc = be32(head + 4);
            e->seen |= 2;
            if (marker == 200 && size >= 16) { /* a sender report: its NTP time's middle */
                e->lsr = be32(head + 10);
                e->lsr_at = (uint32_t)(uint64_t)(wall * 65536.0);
                if (e->lsr_at == 0)
                    e->lsr_at = 1;
            }
        } else if (size >= 12) {
            e->ssrc = be32(head + 8);
            e->seq = (int32_t)(((unsigned)head[2] << 8) | head[3]);
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
    int failed = send_all(e->sink, sink, outs, out);
    if (rtcp_out)
        failed += send_all(e->rtcp_sink, rtcp_sink, rtcp_outs, rtcp_out);
    for (int i = 0; i < received; i++) /* back to receive headers (see reset) */
        reset(i);
    if (failed) {
        e->errors += (uint64_t)failed;
        dirty = 1;
    }
    return dirty | handback;
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
    sink = e->rtcp_sink >= 0 ? lookup(e->rtcp_sink) : NULL;
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
            int result = relay(fd, e, wall);
            if (result & 1) {
                PyObject *item = PyLong_FromLong(fd);
                if (item == NULL || PyList_Append(dirty, item) < 0) {
                    Py_XDECREF(item);
                    return -1;
                }
                Py_DECREF(item);
            }
            if (!(result & HANDBACK))
                continue;
            /* datagrams for Python (its drain_webrtc takes them with held()): the event */
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

/* run(epoll_fd, channel_fd, timeout) -> (events, handled, dirty, emptied)
 *
 * Waits on ``epoll_fd`` (``timeout`` seconds as select.epoll.poll takes it: negative waits
 * for ever, rounded up to milliseconds) and relays the settled streams' packets until
 * something needs Python: ``events`` are the (fd, mask) pairs it did not handle (as
 * epoll.poll gives them), ``handled`` how many ready streams it relayed, ``dirty`` the
 * fds of streams whose counters Python should flush, ``emptied`` None or the fds of
 * streams not relayed here that an RTCP compound the feedback strip left empty was for (an
 * error of each, ``count_emptied``). With ``timeout`` 0 (Python has
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
        /* (RTCP reports relayed: Python reads them now, for the call quality figures) */
        if (timeout == 0 || PyList_GET_SIZE(rest) || PyList_GET_SIZE(dirty) || reports_count
            || stray_count)
            goto out;
        if (timeout > 0 && monotonic() >= deadline)
            goto out;
    }
out: {
        PyObject *emptied; /* (None, not a new list, in nearly every call) */
        if (!stray_count) {
            emptied = Py_NewRef(Py_None);
        } else {
            if ((emptied = PyList_New(stray_count)) == NULL)
                goto fail;
            for (int i = 0; i < stray_count; i++) {
                PyObject *fd = PyLong_FromLong(strays[i]);
                if (fd == NULL) {
                    Py_DECREF(emptied);
                    goto fail;
                }
                PyList_SET_ITEM(emptied, i, fd);
            }
            stray_count = 0;
        }
        PyObject *result = Py_BuildValue("(NiNN)", rest, handled, dirty, emptied);
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
    return Py_BuildValue("(KKKdkiiiikk)", (unsigned long long)e->packets,
                         (unsigned long long)e->bytes, (unsigned long long)e->errors, e->last,
                         (unsigned long)e->ssrc, (int)e->seen, (int)e->payload_type,
                         (int)e->congested, (int)e->seq, (unsigned long)e->lsr,
                         (unsigned long)e->lsr_at);
}

/* The registered entry of a descriptor argument: 1 with ``*e`` set, 0 when the descriptor
 * has no registered stream, -1 with an exception set. */
static int settled_arg(PyObject *fd_obj, struct entry **e)
{
    int fd;
    if (entry_arg(fd_obj, &fd, e) < 0)
        return -1;
    return *e != NULL && (*e)->settled;
}

/* reception(fd) -> (ssrc, seq, lsr, lsr_at) or None: what a registered stream received last
 * (see ``struct entry``), for a report the relay sends; nothing else changes. */
static PyObject *reception(PyObject *self, PyObject *fd_obj)
{
    struct entry *e;
    int found = settled_arg(fd_obj, &e);
    if (found <= 0)
        return found < 0 ? NULL : Py_NewRef(Py_None);
    return Py_BuildValue("(kikk)", (unsigned long)e->ssrc, (int)e->seq, (unsigned long)e->lsr,
                         (unsigned long)e->lsr_at);
}

/* Drop the entry's contexts (unregistered or forgotten). */
static void release(struct entry *e)
{
    Py_CLEAR(e->unprotect);
    Py_CLEAR(e->protect);
    Py_CLEAR(e->rtcp_protect);
}

/* A context argument: None, or an SrtpContext (NULL and an error otherwise). */
static int context_arg(PyObject *value, PyObject **out)
{
    if (value == Py_None) {
        *out = NULL;
        return 0;
    }
    if (PyObject_TypeCheck(value, &ContextType)) {
        *out = value;
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "an SrtpContext of this module or None");
    return -1;
}

/* The peer argument of register: None (no filter), or (family, source tuple as recvfrom
 * gives it: (host, port) for 4, (host, port, flowinfo, scope_id) for 6). 1 for a filter,
 * 0 for none, -1 (ValueError) for anything else. */
static int peer_arg(PyObject *value, struct leg *out)
{
    if (value == Py_None)
        return 0;
    int family;
    PyObject *source;
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope = 0;
    if (!PyArg_ParseTuple(value, "iO!", &family, &PyTuple_Type, &source))
        return -1;
    memset(&out->peer, 0, sizeof(out->peer));
    if (family == 4 && PyArg_ParseTuple(source, "si", &host, &port) && port >= 0 && port <= 65535
        && inet_pton(AF_INET, host, &out->peer.v4.sin_addr) == 1) {
        out->family = AF_INET;
        out->peer.v4.sin_family = AF_INET;
        out->peer.v4.sin_port = htons((unsigned short)port);
        return 1;
    }
    if (family == 6 && PyArg_ParseTuple(source, "siII", &host, &port, &flowinfo, &scope)
        && port >= 0 && port <= 65535 && inet_pton(AF_INET6, host, &out->peer.v6.sin6_addr) == 1) {
        out->family = AF_INET6;
        out->peer.v6.sin6_family = AF_INET6;
        out->peer.v6.sin6_port = htons((unsigned short)port);
        out->peer.v6.sin6_flowinfo = htonl(flowinfo);
        out->peer.v6.sin6_scope_id = scope;
        return 1;
    }
    PyErr_Clear();
    PyErr_SetString(PyExc_ValueError, "peer must be a source address recvfrom can give");
    return -1;
}

/* register(fd, sink_fd, offset, packets, bytes, errors, last_packet, ssrc, ssrc_seen,
 * payload_type[, unprotect, protect[, peer[, rtcp_sink_fd, rtcp_protect[, seq, lsr,
 * lsr_at[, rtcp_keys_only[, strip_feedback[, rtcp_port[, muxed, types_low,
 * types_high]]]]]]]]): relay ``fd``'s packets
 * here from now on, sent from ``sink_fd``, counted in the slot at byte ``offset``; SRTP
 * unprotected with ``unprotect`` and protected with ``protect`` (SrtpContexts, None for
 * plain), RTCP only with ``rtcp_keys_only``; RTCP feedback cut out of compounds with
 * ``strip_feedback``; every packet read as RTCP with ``rtcp_port`` (``refused``), RTCP
 * told from RTP with ``muxed`` (left out: as on a muxed port); RTP of a payload type not
 * among the bits of ``types_low`` (0-63) and ``types_high`` (64-127) an error (all set when
 * left out: none checked).
 * Already registered: only the sink, slot and contexts change (the counters held here
 * stay; the given ones are Python's stale copy). */
static PyObject *register_(PyObject *self, PyObject *args)
{
    int fd, sink, seen, payload_type;
    Py_ssize_t offset;
    unsigned long long packets, nbytes, errors;
    double last;
    unsigned long ssrc;
    PyObject *unprotect_arg = Py_None, *protect_arg = Py_None, *peer = Py_None;
    PyObject *rtcp_protect_arg = Py_None;
    PyObject *unprotect, *protect, *rtcp_protect;
    int rtcp_sink = -1, seq = -1, rtcp_keys_only = 0, strip = 0, rtcp_port = 0, muxed = 1;
    unsigned long lsr = 0, lsr_at = 0;
    unsigned long long types_low = ~0ULL, types_high = ~0ULL;
    if (!PyArg_ParseTuple(args, "iinKKKdkii|OOOiOikkppppKK", &fd, &sink, &offset, &packets,
                          &nbytes, &errors, &last, &ssrc, &seen, &payload_type, &unprotect_arg,
                          &protect_arg, &peer, &rtcp_sink, &rtcp_protect_arg, &seq, &lsr,
                          &lsr_at, &rtcp_keys_only, &strip, &rtcp_port, &muxed, &types_low,
                          &types_high))
        return NULL;
    if (context_arg(unprotect_arg, &unprotect) < 0 || context_arg(protect_arg, &protect) < 0
        || context_arg(rtcp_protect_arg, &rtcp_protect) < 0)
        return NULL;
    struct leg parsed;
    int filter = peer_arg(peer, &parsed);
    if (filter < 0)
        return NULL;
    struct entry *e = entry_for(fd);
    if (e == NULL)
        return NULL;
    if (filter && e->leg == NULL && (e->leg = calloc(1, sizeof(*e->leg))) == NULL)
        return PyErr_NoMemory();
    e->filter = (uint8_t)filter;
    if (filter) {
        e->leg->family = parsed.family;
        e->leg->peer = parsed.peer;
    } else if (e->leg != NULL) {
        Py_CLEAR(e->leg->held); /* a leg's control datagrams, from before it went away */
    }
    e->sink = sink;
    e->rtcp_sink = rtcp_sink < 0 ? -1 : rtcp_sink;
    e->offset = offset;
    Py_XINCREF(unprotect);
    Py_XINCREF(protect);
    Py_XINCREF(rtcp_protect);
    release(e);
    e->unprotect = unprotect;
    e->protect = protect;
    e->rtcp_protect = rtcp_protect;
    e->rtcp_keys_only = (uint8_t)rtcp_keys_only;
    e->strip_feedback = (uint8_t)strip;
    e->rtcp_port = (uint8_t)rtcp_port;
    e->muxed = (uint8_t)muxed;
    e->payload_types[0] = (uint64_t)types_low;
    e->payload_types[1] = (uint64_t)types_high;
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
        e->seq = seq;
        e->lsr = (uint32_t)lsr;
        e->lsr_at = (uint32_t)lsr_at;
    }
    Py_RETURN_NONE;
}

/* unregister(fd) -> totals or None: Python relays ``fd`` again; the counters held here
 * (packets, bytes, errors, last_packet, ssrc, ssrc_seen, payload_type, congested, seq, lsr,
 * lsr_at) go back to it. */
static PyObject *unregister(PyObject *self, PyObject *fd_obj)
{
    struct entry *e;
    int found = settled_arg(fd_obj, &e);
    if (found <= 0)
        return found < 0 ? NULL : Py_NewRef(Py_None);
    e->settled = 0;
    release(e);
    return totals_of(e);
}

/* totals(fd) -> totals or None: the counters of a registered stream (for a full slot
 * write), which stays registered; its congestion note is taken. */
static PyObject *totals(PyObject *self, PyObject *fd_obj)
{
    struct entry *e;
    int found = settled_arg(fd_obj, &e);
    if (found <= 0)
        return found < 0 ? NULL : Py_NewRef(Py_None);
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
    struct entry *e;
    if (entry_arg(fd_obj, &fd, &e) < 0)
        return NULL;
    if (e == NULL)
        Py_RETURN_NONE;
    PyObject *result;
    if (e->settled) {
        result = totals_of(e);
    } else {
        Py_INCREF(Py_None);
        result = Py_None;
    }
    release(e);
    if (e->leg != NULL) {
        Py_CLEAR(e->leg->held);
        free(e->leg);
    }
    memset(e, 0, sizeof(*e));
    int kept = 0;
    for (int i = 0; i < pending_count; i++)
        if (pending[i].data.fd != fd)
            pending[kept++] = pending[i];
    pending_count = kept;
    return result;
}

/* held(fd) -> list or None: the datagrams of a WebRTC leg's stream the loop left to Python
 * ((bytes, source) as recvfrom gives them, in arrival order), taken. */
static PyObject *held(PyObject *self, PyObject *fd_obj)
{
    int fd;
    struct entry *e;
    if (entry_arg(fd_obj, &fd, &e) < 0)
        return NULL;
    if (e == NULL || e->leg == NULL || e->leg->held == NULL)
        Py_RETURN_NONE;
    PyObject *result = e->leg->held;
    e->leg->held = NULL;
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
    {"reception", reception, METH_O, "What a registered stream received last (for reports)."},
    {"reports", reports, METH_NOARGS, "RTCP sender/receiver reports relayed since the last call."},
    {"forget", forget, METH_O, "Drop a socket about to be closed."},
    {"held", held, METH_O, "Datagrams of a WebRTC leg's stream left to Python."},
    {"attach", attach, METH_O, "The counter table relayed packets are counted in."},
    {"strip_feedback", strip_feedback_py, METH_O, "An RTCP compound without its feedback."},
    {"refused", refused_py, METH_VARARGS, "Whether 10.5 drops a packet, an error."},
    {"unknown_type", unknown_type_py, METH_VARARGS, "Whether RTP's payload type is an error."},
    {"srtcp_header_ok", srtcp_header_ok_py, METH_O, "Whether 10.5 decrypts SRTCP."},
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
    if (PyType_Ready(&ContextType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL) {
        Py_INCREF(&ContextType);
        if (PyModule_AddObject(m, "SrtpContext", (PyObject *)&ContextType) < 0) {
            Py_DECREF(&ContextType);
            Py_DECREF(m);
            return NULL;
        }
        PyModule_AddIntConstant(m, "MAX_BATCH", MAX_BATCH);
        /* worker.py uses the helper only when this matches: a stale build is ignored */
        PyModule_AddIntConstant(m, "API", 9);
    }
    return m;
}
