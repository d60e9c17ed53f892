/* rtpengined.protocol._bencode: bencode's decode and encode in C.
 *
 * Every ng request is decoded and every reply encoded (the reply cache keeps the encoded
 * bytes), and in Python that costs about a tenth of an offer/answer/delete lifecycle, almost
 * all of it interpreter overhead per token. This module does the same work in C.
 *
 * bencode.py stays the reference and the fallback: this code follows it step by step, so
 * the values, the end offsets and every BencodeError (its class and its message) are the
 * same for any input, and tests/test_bencode_c.py checks that on random, mutated and deeply
 * nested input. The decoder follows rtpengine 10.5's quirks as bencode.py documents them
 * (first of two equal keys wins, a container may run to the end of the buffer without its
 * ``e``, trailing bytes ignored, leading zeros rejected, integers clamped to 64 bits like
 * strtoll, containers nested at most MAX_DEPTH deep, kept on a stack of its own). Byte strings become str with utf-8 and
 * surrogateescape both ways.
 *
 * The encoder handles exactly str, int (64 bits), bool, float, bytes, bytearray, dict, list
 * and tuple itself; anything else (subclasses, bigger ints, unencodable values) is handed to
 * bencode.py's encoder and a dict key that is not exactly a str to its key encoder (both
 * given to ``setup``), so their output and exceptions are the reference's by construction.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32768 /* bencode.py's MAX_DEPTH: deeper containers are "nested too deeply" */

static PyObject *bencode_error;  /* bencode.BencodeError */
static PyObject *encode_general; /* bencode.pure_encode: value -> bytes */
static PyObject *encode_key;     /* bencode._encode_key: key -> b"<len>:<utf-8>" */

static PyObject *fail(const char *message)
{
    PyErr_SetString(bencode_error ? bencode_error : PyExc_ValueError, message);
    return NULL;
}

#define IS_DIGIT(c) ((unsigned char)((c) - '0') <= 9)

/* ---------------------------------------------------------------- decoding */

/* Where the string whose length starts at ``pos`` (a digit) begins and ends (bencode.py's
 * _string_end, with the same checks in the same order). */
static int string_end(const char *buf, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t *start,
                      Py_ssize_t *stop)
{
    const char *colon_at = memchr(buf + pos, ':', (size_t)(n - pos));
    if (colon_at == NULL) {
        fail("string without colon");
        return -1;
    }
    Py_ssize_t colon = colon_at - buf;
    Py_ssize_t length;
    if (colon == pos + 1) {
        length = buf[pos] - '0';
    } else {
        if (buf[pos] == '0') { /* a leading zero (the length has more than one byte) */
            fail("bad string length");
            return -1;
        }
        for (Py_ssize_t i = pos; i < colon; i++) {
            if (!IS_DIGIT(buf[i])) {
                fail("bad string length");
                return -1;
            }
        }
        if (colon - pos > 18) { /* no buffer is that long */
            fail("string runs past the end");
            return -1;
        }
        length = 0;
        for (Py_ssize_t i = pos; i < colon; i++)
            length = length * 10 + (buf[i] - '0');
    }
    *start = colon + 1;
    if (length > n - *start) {
        fail("string runs past the end");
        return -1;
    }
    *stop = *start + length;
    return 0;
}

static PyObject *decode_string(const char *buf, Py_ssize_t start, Py_ssize_t stop)
{
    return PyUnicode_DecodeUTF8(buf + start, stop - start, "surrogateescape");
}

/* The integer between ``start`` and ``end`` (bencode.py's _parse_int). */
static PyObject *parse_int(const char *buf, Py_ssize_t start, Py_ssize_t end)
{
    if (start == end)
        return fail("empty integer");
    int negative = buf[start] == '-';
    Py_ssize_t body = start + negative;
    if (body == end)
        return fail("bad integer");
    for (Py_ssize_t i = body; i < end; i++) {
        if (!IS_DIGIT(buf[i]))
            return fail("bad integer");
    }
    if (end - body > 1 && buf[body] == '0')
        return fail("leading zero");
    if (end - body > 19) /* past 64 bits whatever the digits: strtoll clamps */
        return PyLong_FromLongLong(negative ? INT64_MIN : INT64_MAX);
    uint64_t magnitude = 0; /* at most 19 digits: fits */
    for (Py_ssize_t i = body; i < end; i++)
        magnitude = magnitude * 10 + (uint64_t)(buf[i] - '0');
    if (negative) {
        if (magnitude >= (uint64_t)INT64_MAX + 1)
            return PyLong_FromLongLong(INT64_MIN);
        return PyLong_FromLongLong(-(long long)magnitude);
    }
    if (magnitude > (uint64_t)INT64_MAX)
        return PyLong_FromLongLong(INT64_MAX);
    return PyLong_FromLongLong((long long)magnitude);
}

/* An open container on the decoder's stack: the dict or list (a borrowed reference: its
 * parent, or the caller's root, holds it) and, for a dict, the key its next value goes to
 * (owned; NULL between values). */
typedef struct {
    PyObject *container;
    PyObject *key;
    int is_dict;
} open_container;

#define STACK_ON_C 32 /* open containers kept without an allocation (ng messages: 2-4) */

/* One value at ``pos``; its end in ``*end`` (bencode.py's _decode_at: the same checks in
 * the same order, its own stack of open containers instead of recursion, strings inside
 * containers inline while the depth allows them). The end of a container that runs out of
 * bytes is one past the buffer, as there. */
static PyObject *decode_at(const char *buf, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t *end)
{
    open_container on_c[STACK_ON_C];
    open_container *stack = on_c;
    Py_ssize_t capacity = STACK_ON_C, depth = 0, start, stop;
    PyObject *root = NULL;
    for (;;) {
        /* A value starts at ``pos``: at the top, as a list item or as a dict's value. */
        if (depth > MAX_DEPTH) {
            fail("nested too deeply");
            goto error;
        }
        if (pos >= n) {
            fail("unexpected end of data");
            goto error;
        }
        char lead = buf[pos];
        PyObject *value;
        if (IS_DIGIT(lead)) {
            if (string_end(buf, n, pos, &start, &stop) < 0)
                goto error;
            pos = stop;
            value = decode_string(buf, start, stop);
        } else if (lead == 'd' || lead == 'l') {
            value = lead == 'd' ? PyDict_New() : PyList_New(0);
            pos++;
        } else if (lead == 'i') {
            const char *e = memchr(buf + pos + 1, 'e', (size_t)(n - pos - 1));
            if (e == NULL) {
                fail("unterminated integer");
                goto error;
            }
            value = parse_int(buf, pos + 1, e - buf);
            pos = e - buf + 1;
        } else {
            fail("unknown value type");
            goto error;
        }
        if (value == NULL)
            goto error;
        if (depth == 0) {
            root = value;
        } else {
            open_container *parent = &stack[depth - 1];
            int failed;
            if (parent->key == NULL) {
                failed = PyList_Append(parent->container, value);
            } else { /* the first of two equal keys wins */
                failed = PyDict_SetDefault(parent->container, parent->key, value) == NULL;
                Py_CLEAR(parent->key);
            }
            Py_DECREF(value); /* its parent holds it */
            if (failed)
                goto error;
        }
        if (lead == 'd' || lead == 'l') {
            if (depth == capacity) {
                Py_ssize_t grown = capacity * 2;
                open_container *bigger = PyMem_Malloc((size_t)grown * sizeof(*bigger));
                if (bigger == NULL) {
                    PyErr_NoMemory();
                    goto error;
                }
                memcpy(bigger, stack, (size_t)depth * sizeof(*stack));
                if (stack != on_c)
                    PyMem_Free(stack);
                stack = bigger;
                capacity = grown;
            }
            stack[depth].container = value;
            stack[depth].key = NULL;
            stack[depth].is_dict = lead == 'd';
            depth++;
        }
        /* Go on inside the innermost open container until a value needs the outer loop. */
        while (depth > 0) {
            open_container *top = &stack[depth - 1];
            int inline_strings = depth <= MAX_DEPTH; /* a string here is too deep otherwise */
            if (pos >= n || buf[pos] == 'e') { /* its e (or the end of the buffer) */
                pos++;
                depth--;
                continue;
            }
            lead = buf[pos];
            if (top->is_dict) {
                if (!IS_DIGIT(lead)) {
                    fail("dictionary key is not a string");
                    goto error;
                }
                if (!inline_strings) {
                    fail("nested too deeply");
                    goto error;
                }
                if (string_end(buf, n, pos, &start, &stop) < 0)
                    goto error;
                PyObject *key = decode_string(buf, start, stop);
                if (key == NULL)
                    goto error;
                pos = stop;
                if (pos >= n) {
                    Py_DECREF(key);
                    fail("unexpected end of data");
                    goto error;
                }
                if (IS_DIGIT(buf[pos])) { /* inline: this depth allows strings */
                    if (string_end(buf, n, pos, &start, &stop) < 0) {
                        Py_DECREF(key);
                        goto error;
                    }
                    pos = stop;
                    PyObject *string = decode_string(buf, start, stop);
                    if (string == NULL) {
                        Py_DECREF(key);
                        goto error;
                    }
                    PyObject *kept = PyDict_SetDefault(top->container, key, string);
                    Py_DECREF(key);
                    Py_DECREF(string);
                    if (kept == NULL)
                        goto error;
                    continue;
                }
                top->key = key;
                break;
            }
            if (IS_DIGIT(lead) && inline_strings) {
                if (string_end(buf, n, pos, &start, &stop) < 0)
                    goto error;
                pos = stop;
                PyObject *string = decode_string(buf, start, stop);
                if (string == NULL)
                    goto error;
                int failed = PyList_Append(top->container, string);
                Py_DECREF(string);
                if (failed)
                    goto error;
                continue;
            }
            break;
        }
        if (depth == 0) {
            if (stack != on_c)
                PyMem_Free(stack);
            *end = pos;
            return root;
        }
    }
error:
    for (Py_ssize_t i = 0; i < depth; i++)
        Py_XDECREF(stack[i].key);
    if (stack != on_c)
        PyMem_Free(stack);
    Py_XDECREF(root);
    return NULL;
}

static PyObject *decode(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyBytes_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "_bencode.decode takes bytes");
        return NULL;
    }
    Py_ssize_t end;
    return decode_at(PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg), 0, &end);
}

static PyObject *decode_prefix(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyBytes_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "_bencode.decode_prefix takes bytes");
        return NULL;
    }
    Py_ssize_t n = PyBytes_GET_SIZE(arg), end;
    PyObject *value = decode_at(PyBytes_AS_STRING(arg), n, 0, &end);
    if (value == NULL)
        return NULL;
    return Py_BuildValue("(Nn)", value, end < n ? end : n);
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
    char local[2048]; /* most replies fit: no allocation */
} Out;

static int grow(Out *out, Py_ssize_t more)
{
    if (more > PY_SSIZE_T_MAX - out->len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = out->len + more;
    if (need <= out->cap)
        return 0;
    Py_ssize_t cap = out->cap;
    while (cap < need)
        cap = cap > PY_SSIZE_T_MAX / 2 ? need : cap * 2;
    char *data = PyMem_Malloc((size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(data, out->data, (size_t)out->len);
    if (out->data != out->local)
        PyMem_Free(out->data);
    out->data = data;
    out->cap = cap;
    return 0;
}

static int put(Out *out, const char *bytes, Py_ssize_t len)
{
    if (out->cap - out->len < len && grow(out, len) < 0)
        return -1;
    memcpy(out->data + out->len, bytes, (size_t)len);
    out->len += len;
    return 0;
}

static int put_char(Out *out, char c)
{
    if (out->len == out->cap && grow(out, 1) < 0)
        return -1;
    out->data[out->len++] = c;
    return 0;
}

/* ``i<value>e`` */
static int put_int(Out *out, long long value)
{
    char digits[24];
    char *p = digits + sizeof(digits);
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value
                                             : (unsigned long long)value;
    *--p = 'e';
    do {
        *--p = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        *--p = '-';
    *--p = 'i';
    return put(out, p, digits + sizeof(digits) - p);
}

/* ``<len>:<bytes>`` */
static int put_string(Out *out, const char *bytes, Py_ssize_t len)
{
    char digits[24];
    char *p = digits + sizeof(digits);
    size_t rest = (size_t)len;
    *--p = ':';
    do {
        *--p = (char)('0' + rest % 10);
        rest /= 10;
    } while (rest);
    Py_ssize_t prefix = digits + sizeof(digits) - p;
    if (out->cap - out->len < prefix + len && grow(out, prefix + len) < 0)
        return -1;
    memcpy(out->data + out->len, p, (size_t)prefix);
    memcpy(out->data + out->len + prefix, bytes, (size_t)len);
    out->len += prefix + len;
    return 0;
}

/* An exact str: its utf-8 with surrogateescape (ASCII, nearly always, is used as it is). */
static int put_str(Out *out, PyObject *text)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0)
        return -1;
#endif
    if (PyUnicode_IS_ASCII(text))
        return put_string(out, PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text));
    PyObject *raw = PyUnicode_AsEncodedString(text, "utf-8", "surrogateescape");
    if (raw == NULL)
        return -1;
    int result = put_string(out, PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
    Py_DECREF(raw);
    return result;
}

/* What one of bencode.py's encoders (``encode_general``, ``encode_key``) makes of ``value``. */
static int put_from_python(Out *out, PyObject *encoder, PyObject *value)
{
    PyObject *raw = PyObject_CallOneArg(encoder, value);
    if (raw == NULL)
        return -1;
    if (!PyBytes_Check(raw)) {
        Py_DECREF(raw);
        PyErr_SetString(PyExc_TypeError, "bencode encoder returned no bytes");
        return -1;
    }
    int result = put(out, PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
    Py_DECREF(raw);
    return result;
}

static int encode_value(Out *out, PyObject *value);

static int encode_dict(Out *out, PyObject *dict)
{
    if (put_char(out, 'd') < 0)
        return -1;
    Py_ssize_t pos = 0, size = PyDict_GET_SIZE(dict);
    PyObject *key, *item;
    while (PyDict_Next(dict, &pos, &key, &item)) {
        /* Python code may run for a key or a value (bencode.py's encoders, a subclass's
         * methods): hold both, and fail like dict iteration if the dict changed size. */
        Py_INCREF(key);
        Py_INCREF(item);
        int failed = PyUnicode_CheckExact(key) ? put_str(out, key)
                                               : put_from_python(out, encode_key, key);
        if (!failed)
            failed = encode_value(out, item);
        Py_DECREF(key);
        Py_DECREF(item);
        if (failed)
            return -1;
        if (PyDict_GET_SIZE(dict) != size) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            return -1;
        }
    }
    return put_char(out, 'e');
}

/* A list or a tuple (the PySequence_Fast macros read both). Read like a list iterator
 * reads a list: the length again for every item, and each item held while Python code may
 * run for it (a float, a subclass), in case that code changes the list. */
static int encode_sequence(Out *out, PyObject *sequence)
{
    if (put_char(out, 'l') < 0)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(sequence); i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(sequence, i);
        Py_INCREF(item);
        int failed = encode_value(out, item);
        Py_DECREF(item);
        if (failed)
            return -1;
    }
    return put_char(out, 'e');
}

static int encode_value(Out *out, PyObject *value)
{
    PyTypeObject *type = Py_TYPE(value);
    if (type == &PyUnicode_Type)
        return put_str(out, value);
    if (type == &PyLong_Type) {
        int overflow;
        long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow)
            return put_from_python(out, encode_general, value);
        if (number == -1 && PyErr_Occurred())
            return -1;
        return put_int(out, number);
    }
    if (type == &PyDict_Type || type == &PyList_Type || type == &PyTuple_Type) {
        /* The same recursion limit as the reference's one call per container level. */
        if (Py_EnterRecursiveCall(""))
            return -1;
        int result = type == &PyDict_Type ? encode_dict(out, value)
                                          : encode_sequence(out, value);
        Py_LeaveRecursiveCall();
        return result;
    }
    if (type == &PyBool_Type)
        return put(out, value == Py_True ? "i1e" : "i0e", 3);
    if (type == &PyFloat_Type) { /* "%.6f" % value, as a string */
        char *text = PyOS_double_to_string(PyFloat_AS_DOUBLE(value), 'f', 6, 0, NULL);
        if (text == NULL)
            return -1;
        int result = put_string(out, text, (Py_ssize_t)strlen(text));
        PyMem_Free(text);
        return result;
    }
    if (type == &PyBytes_Type)
        return put_string(out, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
    if (type == &PyByteArray_Type)
        return put_string(out, PyByteArray_AS_STRING(value), PyByteArray_GET_SIZE(value));
    return put_from_python(out, encode_general, value);
}

static PyObject *encode(PyObject *module, PyObject *value)
{
    (void)module;
    if (encode_general == NULL || encode_key == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_bencode.setup was not called");
        return NULL;
    }
    Out out;
    out.data = out.local;
    out.len = 0;
    out.cap = sizeof(out.local);
    PyObject *result = NULL;
    if (encode_value(&out, value) == 0)
        result = PyBytes_FromStringAndSize(out.data, out.len);
    if (out.data != out.local)
        PyMem_Free(out.data);
    return result;
}

static PyObject *setup(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *error, *general, *key;
    if (!PyArg_ParseTuple(args, "OOO:setup", &error, &general, &key))
        return NULL;
    if (!PyType_Check(error) || !PyCallable_Check(general) || !PyCallable_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "setup(error class, value encoder, key encoder)");
        return NULL;
    }
    Py_INCREF(error);
    Py_INCREF(general);
    Py_INCREF(key);
    Py_XSETREF(bencode_error, error);
    Py_XSETREF(encode_general, general);
    Py_XSETREF(encode_key, key);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_O, "decode(bytes) -> value (bencode.decode)"},
    {"decode_prefix", decode_prefix, METH_O,
     "decode_prefix(bytes) -> (value, bytes used) (bencode.decode_prefix)"},
    {"encode", encode, METH_O, "encode(value) -> bytes (bencode.encode)"},
    {"setup", setup, METH_VARARGS,
     "setup(BencodeError, encoder, key encoder): the error class to raise, and bencode.py's "
     "encoders for the values and dict keys this module leaves to them"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bencode", "bencode's decode and encode in C (see bencode.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__bencode(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "API", 1) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
