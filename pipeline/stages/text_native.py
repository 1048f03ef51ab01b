"""Native loops for the clean stage's English word path: chunk → word-id lookup and n-gram statistics.

After the first split of each whitespace-free chunk (`words.SpacyEnglishRules`, Python), what is
left per document is bookkeeping that Python does slowly: cut the text at whitespace, look every
chunk up in the memo, concatenate the word ids; then, per rule, count repeated word n-grams. Here
both are C loops over the UTF-8 bytes and the id arrays:

- `ChunkTable`: a hash table from chunk bytes to the chunk's word ids. `doc_ids(text)` cuts at
  exactly the characters `str.split()` cuts at (ASCII and Unicode whitespace) and returns the ids,
  or the chunks the table does not know yet, which the caller splits and `put`s.
- `ngram_stats`: per document, the Gopher repetition measures datatrove computes with joined
  strings: the most frequent n-gram's characters × its count (ties to the earliest), and the
  characters of repeated n-grams in datatrove's greedy left-to-right scan.

Both have pure-Python/numpy equivalents (the `words` and `quality` modules) used when no compiler
is available; tests hold the two paths to identical results on real text.
"""

from __future__ import annotations

import ctypes

import numpy as np

from ..native_build import LazyLibrary, build_library

_SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return x;
}

static uint64_t hash_bytes(const unsigned char* p, int64_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) { uint64_t w; memcpy(&w, p + i, 8); h = mix64(h ^ w); }
  uint64_t w = 0;
  memcpy(&w, p + i, (size_t)(n - i));
  return mix64(h ^ w ^ ((uint64_t)(n - i) << 58));
}

/* Bytes of the whitespace character starting at p[i] (0 if none): what Python's str.split() cuts at:
   \t\n\v\f\r, \x1c-\x1f, space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
   U+205F, U+3000. UTF-8 continuation bytes never match, so testing every byte offset is safe. */
static inline int ws_len(const unsigned char* p, int64_t i, int64_t n) {
  const unsigned char c = p[i];
  if (c < 0x80) return (c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f)) ? 1 : 0;
  if (c == 0xc2) return (i + 1 < n && (p[i + 1] == 0x85 || p[i + 1] == 0xa0)) ? 2 : 0;
  if (i + 2 >= n) return 0;
  const unsigned char b1 = p[i + 1], b2 = p[i + 2];
  if (c == 0xe1) return (b1 == 0x9a && b2 == 0x80) ? 3 : 0;
  if (c == 0xe2) {
    if (b1 == 0x80) return ((b2 >= 0x80 && b2 <= 0x8a) || b2 == 0xa8 || b2 == 0xa9 || b2 == 0xaf) ? 3 : 0;
    return (b1 == 0x81 && b2 == 0x9f) ? 3 : 0;
  }
  if (c == 0xe3) return (b1 == 0x80 && b2 == 0x80) ? 3 : 0;
  return 0;
}

typedef struct { uint64_t hash; int64_t key_off, key_len, ids_off, n_ids, used; } Slot;
typedef struct {
  Slot* slots; int64_t cap, count;
  unsigned char* arena; int64_t alen, acap;
  int64_t* pool; int64_t plen, pcap;
} Table;

void* ct_new(void) {
  Table* t = (Table*)calloc(1, sizeof(Table));
  if (!t) return 0;
  t->cap = 1024;
  t->slots = (Slot*)calloc((size_t)t->cap, sizeof(Slot));
  if (!t->slots) { free(t); return 0; }
  return t;
}

void ct_free(void* h) {
  Table* t = (Table*)h;
  if (!t) return;
  free(t->slots); free(t->arena); free(t->pool); free(t);
}

void ct_clear(void* h) {
  Table* t = (Table*)h;
  memset(t->slots, 0, (size_t)t->cap * sizeof(Slot));
  t->count = 0; t->alen = 0; t->plen = 0;
}

int64_t ct_count(void* h) { return ((Table*)h)->count; }

static Slot* find(Table* t, const unsigned char* key, int64_t len, uint64_t hash) {
  const int64_t mask = t->cap - 1;
  for (int64_t i = (int64_t)(hash & (uint64_t)mask);; i = (i + 1) & mask) {
    Slot* s = &t->slots[i];
    if (!s->used) return s;
    if (s->hash == hash && s->key_len == len && memcmp(t->arena + s->key_off, key, (size_t)len) == 0) return s;
  }
}

static int grow(Table* t) {
  const int64_t cap = t->cap * 2;
  Slot* old = t->slots;
  const int64_t old_cap = t->cap;
  t->slots = (Slot*)calloc((size_t)cap, sizeof(Slot));
  if (!t->slots) { t->slots = old; return -1; }
  t->cap = cap;
  for (int64_t i = 0; i < old_cap; ++i) {
    if (!old[i].used) continue;
    for (int64_t j = (int64_t)(old[i].hash & (uint64_t)(cap - 1));; j = (j + 1) & (cap - 1)) {
      if (!t->slots[j].used) { t->slots[j] = old[i]; break; }
    }
  }
  free(old);
  return 0;
}

static int reserve(void** buf, int64_t* cap, int64_t need, size_t item) {
  if (need <= *cap) return 0;
  int64_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  void* p = realloc(*buf, (size_t)c * item);
  if (!p) return -1;
  *buf = p; *cap = c;
  return 0;
}

/* Map chunk bytes to word ids (a new chunk only; an existing one keeps its ids). 0, or -1 out of memory. */
int ct_put(void* h, const unsigned char* key, int64_t len, const int64_t* ids, int64_t n) {
  Table* t = (Table*)h;
  if ((t->count + 1) * 2 > t->cap && grow(t)) return -1;
  const uint64_t hash = hash_bytes(key, len);
  Slot* s = find(t, key, len, hash);
  if (s->used) return 0;
  if (reserve((void**)&t->arena, &t->acap, t->alen + len, 1)) return -1;
  if (reserve((void**)&t->pool, &t->pcap, t->plen + n, sizeof(int64_t))) return -1;
  memcpy(t->arena + t->alen, key, (size_t)len);
  memcpy(t->pool + t->plen, ids, (size_t)n * sizeof(int64_t));
  s->hash = hash; s->key_off = t->alen; s->key_len = len; s->ids_off = t->plen; s->n_ids = n; s->used = 1;
  t->alen += len; t->plen += n; t->count += 1;
  return 0;
}

/* ct_put for n_keys chunks: key k is keys[kb[k]:kb[k+1]], its ids ids[ib[k]:ib[k+1]]. */
int ct_put_many(void* h, const unsigned char* keys, const int64_t* kb, int64_t n_keys, const int64_t* ids,
                const int64_t* ib) {
  for (int64_t k = 0; k < n_keys; ++k)
    if (ct_put(h, keys + kb[k], kb[k + 1] - kb[k], ids + ib[k], ib[k + 1] - ib[k])) return -1;
  return 0;
}

/* ---- word table: word bytes -> id, ids given in insertion order ---- */
typedef struct { Table t; int64_t* order_off; int64_t* order_len; int64_t ocap; } Words;

void* wt_new(void) {
  Words* w = (Words*)calloc(1, sizeof(Words));
  if (!w) return 0;
  w->t.cap = 1024;
  w->t.slots = (Slot*)calloc((size_t)w->t.cap, sizeof(Slot));
  if (!w->t.slots) { free(w); return 0; }
  return w;
}
void wt_free(void* h) {
  Words* w = (Words*)h;
  if (!w) return;
  free(w->t.slots); free(w->t.arena); free(w->t.pool); free(w->order_off); free(w->order_len); free(w);
}
void wt_clear(void* h) { ct_clear(&((Words*)h)->t); }
int64_t wt_count(void* h) { return ((Words*)h)->t.count; }

/* The id of a word, adding it if new; -1 out of memory. */
static int64_t wt_id(Words* w, const unsigned char* key, int64_t len) {
  Table* t = &w->t;
  const uint64_t hash = hash_bytes(key, len);
  Slot* s = find(t, key, len, hash);
  if (s->used) return s->ids_off;
  if ((t->count + 1) * 2 > t->cap) {
    if (grow(t)) return -1;
    s = find(t, key, len, hash);
  }
  if (reserve((void**)&t->arena, &t->acap, t->alen + len, 1)) return -1;
  if (reserve((void**)&w->order_off, &w->ocap, t->count + 1, sizeof(int64_t))) return -1;
  int64_t ocap = w->ocap - 1;
  if (reserve((void**)&w->order_len, &ocap, t->count + 1, sizeof(int64_t))) return -1;
  if (ocap != w->ocap) {  /* keep both order arrays the same capacity */
    void* p = realloc(w->order_len, (size_t)w->ocap * sizeof(int64_t));
    if (!p) return -1;
    w->order_len = (int64_t*)p;
  }
  memcpy(t->arena + t->alen, key, (size_t)len);
  const int64_t id = t->count;
  s->hash = hash; s->key_off = t->alen; s->key_len = len; s->ids_off = id; s->n_ids = 1; s->used = 1;
  w->order_off[id] = t->alen; w->order_len[id] = len;
  t->alen += len; t->count += 1;
  return id;
}

/* ids of n words (word k = keys[kb[k]:kb[k+1]]); 0, or -1 out of memory. */
int wt_ids(void* h, const unsigned char* keys, const int64_t* kb, int64_t n, int64_t* out) {
  for (int64_t k = 0; k < n; ++k)
    if ((out[k] = wt_id((Words*)h, keys + kb[k], kb[k + 1] - kb[k])) < 0) return -1;
  return 0;
}

/* Bytes of words [from, count) and their lengths; returns the number of bytes (call with buf=0 first). */
int64_t wt_words(void* h, int64_t from, unsigned char* buf, int64_t* lens) {
  Words* w = (Words*)h;
  int64_t total = 0;
  for (int64_t i = from; i < w->t.count; ++i) {
    if (buf) { memcpy(buf + total, w->t.arena + w->order_off[i], (size_t)w->order_len[i]); lens[i - from] = w->order_len[i]; }
    total += w->order_len[i];
  }
  return total;
}

/* ---- spaCy's tokenizer loop for ASCII chunks (see affix_programs.py); anything else: -1 = ask Python ---- */
enum { PREFIX = 0, SUFFIX = 1, INFIX = 2, REC = 9 };
typedef struct {
  const int32_t* start[3]; const int8_t* complex[3]; const int32_t* rec[3]; const uint64_t* mask[3];
  uint64_t url_need[3];  /* ASCII characters every URL match consumes (bit 128: a non-ASCII one) */
  void* specials; void* pairs;  /* chunk tables used as sets */
  uint64_t spec_shape[256];     /* bit min(len, 63) set for each (first byte, length) of a special */
} Splitter;

void* sp_new(const int32_t* ps, const int8_t* pc, const int32_t* pr, const uint64_t* pm,
             const int32_t* ss, const int8_t* sc, const int32_t* sr, const uint64_t* sm,
             const int32_t* is, const int8_t* ic, const int32_t* ir, const uint64_t* im,
             const uint64_t* url_need, void* specials, void* pairs) {
  Splitter* sp = (Splitter*)calloc(1, sizeof(Splitter));
  if (!sp) return 0;
  sp->start[0] = ps; sp->complex[0] = pc; sp->rec[0] = pr; sp->mask[0] = pm;
  sp->start[1] = ss; sp->complex[1] = sc; sp->rec[1] = sr; sp->mask[1] = sm;
  sp->start[2] = is; sp->complex[2] = ic; sp->rec[2] = ir; sp->mask[2] = im;
  sp->url_need[0] = url_need[0]; sp->url_need[1] = url_need[1]; sp->url_need[2] = url_need[2];
  sp->specials = specials; sp->pairs = pairs;
  const Table* t = (const Table*)specials;
  for (int64_t i = 0; i < t->cap; ++i) {
    const Slot* sl = &t->slots[i];
    if (!sl->used || sl->key_len == 0) continue;
    const int64_t len = sl->key_len < 63 ? sl->key_len : 63;
    sp->spec_shape[t->arena[sl->key_off]] |= (uint64_t)1 << len;
  }
  return sp;
}
void sp_free(void* h) { free(h); }

static inline int in_set(const uint64_t* m, unsigned char c) { return (int)((m[c >> 6] >> (c & 63)) & 1); }
static inline int is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int all_letters(const unsigned char* s, int64_t a, int64_t b) {
  if (a >= b) return 0;
  for (int64_t i = a; i < b; ++i) if (!is_letter(s[i])) return 0;
  return 1;
}
static int in_table(void* h, const unsigned char* s, int64_t n) {
  Table* t = (Table*)h;
  return find(t, s, n, hash_bytes(s, n))->used != 0;
}

/* s[0:n] is a special case (an exception): the (first byte, length) screen first, then the table */
static inline int is_special(const Splitter* sp, const unsigned char* s, int64_t n) {
  if (n <= 0 || !((sp->spec_shape[s[0]] >> (n < 63 ? n : 63)) & 1)) return 0;
  return in_table(sp->specials, s, n);
}

/* Where program R, matched at pos of the string s[a:b], ends; -1 if it does not match there. */
static int64_t match_at(const int32_t* R, const uint64_t* masks, const unsigned char* s, int64_t a, int64_t b,
                        int64_t pos) {
  const uint64_t* seq = masks + 2 * R[0];
  int64_t end;
  if (R[8]) {
    int64_t k = 0;
    while (pos + k < b && in_set(seq, s[pos + k])) ++k;
    if (k < R[8]) return -1;
    end = pos + k;
  } else {
    if (pos + R[1] > b) return -1;
    for (int64_t j = 0; j < R[1]; ++j) if (!in_set(seq + 2 * j, s[pos + j])) return -1;
    end = pos + R[1];
  }
  if (R[3]) {
    const uint64_t* look = masks + 2 * R[2];
    int hit = pos - R[3] >= a;
    for (int64_t j = 0; j < R[3] && hit; ++j) hit = in_set(look + 2 * j, s[pos - R[3] + j]);
    if (hit == R[4]) return -1;  /* positive look-behind missed, or negative one hit */
  }
  if (R[6]) {
    const uint64_t* look = masks + 2 * R[5];
    int hit = end + R[6] <= b;
    for (int64_t j = 0; j < R[6] && hit; ++j) hit = in_set(look + 2 * j, s[end + j]);
    if (hit == R[7]) return -1;
  }
  return end;
}

/* prefix length of s[a:b]: the first program, in regex order, matching at a; -1 if undecidable */
static int64_t prefix_len(const Splitter* sp, const unsigned char* s, int64_t a, int64_t b) {
  if (a >= b) return 0;
  const unsigned char c = s[a];
  if (sp->complex[PREFIX][c]) return -1;
  for (int32_t r = sp->start[PREFIX][c]; r < sp->start[PREFIX][c + 1]; ++r) {
    const int64_t end = match_at(sp->rec[PREFIX] + REC * r, sp->mask[PREFIX], s, a, b, a);
    if (end >= 0) return end - a;
  }
  return 0;
}

/* suffix length of s[a:b]: the match ending at b that starts leftmost (the regex is searched left
   to right), so the longest; -1 if undecidable */
static int64_t suffix_len(const Splitter* sp, const unsigned char* s, int64_t a, int64_t b) {
  if (a >= b) return 0;
  const unsigned char c = s[b - 1];
  if (sp->complex[SUFFIX][c]) return -1;
  int64_t best = 0;
  for (int32_t r = sp->start[SUFFIX][c]; r < sp->start[SUFFIX][c + 1]; ++r) {
    const int32_t* R = sp->rec[SUFFIX] + REC * r;
    int64_t pos;
    if (R[8]) {  /* a run: it can only start where the trailing run of its class starts */
      const uint64_t* seq = sp->mask[SUFFIX] + 2 * R[0];
      pos = b;
      while (pos > a && in_set(seq, s[pos - 1])) --pos;
    } else {
      pos = b - R[1];
    }
    if (pos < a || b - pos <= best) continue;
    if (match_at(R, sp->mask[SUFFIX], s, a, b, pos) == b) best = b - pos;
  }
  return best;
}

/* Infix matches of s[a:b] as the regex's finditer finds them (left to right, first program in
   regex order at each position, continuing after the match): their (start, end) in found.
   Returns how many, or -1 if undecidable. */
static int64_t infixes(const Splitter* sp, const unsigned char* s, int64_t a, int64_t b, int64_t* found,
                       int64_t cap) {
  int64_t n = 0, pos = a;
  while (pos < b) {
    const unsigned char c = s[pos];
    if (sp->complex[INFIX][c]) return -1;
    int64_t end = -1;
    for (int32_t r = sp->start[INFIX][c]; r < sp->start[INFIX][c + 1] && end < 0; ++r)
      end = match_at(sp->rec[INFIX] + REC * r, sp->mask[INFIX], s, a, b, pos);
    if (end < 0) { ++pos; continue; }
    if (n >= cap) return -1;
    found[2 * n] = pos; found[2 * n + 1] = end; ++n;
    pos = end > pos ? end : pos + 1;
  }
  return n;
}

/* Whether url_match could match s[a:b] (it cannot when a character it always needs is absent). */
static int url_possible(const Splitter* sp, const unsigned char* s, int64_t a, int64_t b) {
  if (sp->url_need[2]) return 0;  /* needs a non-ASCII character */
  uint64_t have[2] = {0, 0};
  for (int64_t i = a; i < b; ++i) have[s[i] >> 6] |= (uint64_t)1 << (s[i] & 63);
  return (sp->url_need[0] & ~have[0]) == 0 && (sp->url_need[1] & ~have[1]) == 0;
}

/* Token cut points of one chunk s[0:n] as spaCy makes them (token j = s[cuts[j]:cuts[j+1]]), or -1
   when Python must decide: non-ASCII, an exception (special case) on the way, an undecidable
   affix, or a token pair that starts a special-case pattern. -3: infixes split a middle part
   s[lo:hi] (lo, hi in cuts[cap-2], cuts[cap-1]; the token count in cuts[cap-3]) that the URL rule might keep whole; the cuts are those for
   no URL match, and the caller decides. Mirrors `SpacyEnglishRules.split`. */
int64_t sp_split(const void* h, const unsigned char* s, int64_t n, int64_t* cuts, int64_t cap) {
  const Splitter* sp = (const Splitter*)h;
  for (int64_t i = 0; i < n; ++i) if (s[i] >= 0x80) return -1;
  if (is_special(sp, s, n)) return -1;
  if (all_letters(s, 0, n)) { cuts[0] = 0; cuts[1] = n; return 1; }
  int64_t lo = 0, hi = n, np = 0, ns = 0, url_pending = 0;
  int64_t pre_at[64], suf_at[64], found[128];
  while (lo < hi) {
    if (is_special(sp, s + lo, hi - lo)) return -1;
    if (all_letters(s, lo, hi)) break;
    const int64_t pre = prefix_len(sp, s, lo, hi);
    if (pre < 0) return -1;
    if (pre && hi - lo - pre > 0 && is_special(sp, s + lo + pre, hi - lo - pre)) return -1;
    const int64_t suf = suffix_len(sp, s, lo + pre, hi);
    if (suf < 0) return -1;
    if (suf && hi - lo - suf > 0 && is_special(sp, s + lo, hi - lo - suf)) return -1;
    if (np >= 64 || ns >= 64) return -1;
    if (pre && suf && pre + suf <= hi - lo) {
      pre_at[np++] = lo; lo += pre; suf_at[ns++] = hi; hi -= suf;
    } else if (pre) {
      pre_at[np++] = lo; lo += pre;
    } else if (suf) {
      suf_at[ns++] = hi; hi -= suf;
    } else {
      break;
    }
  }
  int64_t k = 0;
  for (int64_t i = 0; i < np; ++i) cuts[k++] = pre_at[i];
  if (lo < hi) {
    if (is_special(sp, s + lo, hi - lo)) return -1;
    int64_t nf = 0;
    if (!all_letters(s, lo, hi)) {
      nf = infixes(sp, s, lo, hi, found, 64);
      if (nf < 0) return -1;
      url_pending = nf && url_possible(sp, s, lo, hi);
    }
    if (k + 2 * nf + 2 + ns > cap - 3) return -1;
    int64_t start = lo;
    cuts[k++] = lo;
    for (int64_t f = 0; f < nf; ++f) {  /* Python: skip a match at 0; cut before and after each */
      const int64_t fa = found[2 * f], fb = found[2 * f + 1];
      if (fa == lo) continue;
      if (fa != start) cuts[k++] = fa;
      if (fa != fb) cuts[k++] = fb;
      start = fb;
    }
    if (start < hi) cuts[k++] = hi; else if (cuts[k - 1] != hi) cuts[k++] = hi;
  } else {
    if (k + 1 + ns > cap) return -1;
    cuts[k++] = lo;
  }
  for (int64_t i = ns - 1; i >= 0; --i) cuts[k++] = suf_at[i];
  const int64_t tokens = k - 1;
  /* pairs of adjacent tokens that begin a special-case pattern: Python's matcher pass decides */
  unsigned char buf[512];
  for (int64_t t = 0; t + 1 < tokens; ++t) {
    const int64_t a0 = cuts[t], a1 = cuts[t + 1], b1 = cuts[t + 2];
    if (b1 - a0 + 1 > (int64_t)sizeof(buf)) return -1;
    memcpy(buf, s + a0, (size_t)(a1 - a0)); buf[a1 - a0] = 0; memcpy(buf + (a1 - a0) + 1, s + a1, (size_t)(b1 - a1));
    if (in_table(sp->pairs, buf, b1 - a0 + 1)) return -1;
  }
  if (url_pending) {  /* the cuts assume the URL rule does not match s[lo:hi]; Python checks it */
    cuts[cap - 3] = tokens; cuts[cap - 2] = lo; cuts[cap - 1] = hi;
    return -3;
  }
  return tokens;
}

/* Cut text at whitespace and write the word ids of its chunks to out (room for len ids: a chunk has
   at most as many words as bytes). A chunk the table does not know is split here when `splitter`
   (with `words`) can (then remembered); otherwise it is returned to the caller. Returns the number
   of ids; or -1 with the unknown chunks' (offset, length) pairs in missing (room for len + 2 pairs)
   and their count in n_missing (a chunk may be listed more than once). -2: out of memory. */
int64_t ct_doc(void* h, void* words, const void* splitter, const unsigned char* text, int64_t len, int64_t* out,
               int64_t* missing, int64_t* n_missing) {
  /* byte classes: 1 = ASCII whitespace, 2 = may start a multi-byte whitespace character */
  static unsigned char cls[256];
  static int ready = 0;
  if (!ready) {
    for (int c = 0; c < 256; ++c)
      cls[c] = (c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x1f)) ? 1
               : (c == 0xc2 || c == 0xe1 || c == 0xe2 || c == 0xe3) ? 2 : 0;
    ready = 1;
  }
  Table* t = (Table*)h;
  int64_t n_out = 0, nm = 0, i = 0;
  int64_t cuts[300], ids[300];
  while (i < len) {
    if (cls[text[i]]) {
      const int w = ws_len(text, i, len);
      if (w) { i += w; continue; }
    }
    const int64_t start = i;
    for (;;) {
      while (i < len && !cls[text[i]]) ++i;
      if (i >= len || ws_len(text, i, len)) break;
      ++i;
    }
    const int64_t clen = i - start;
    const uint64_t hash = hash_bytes(text + start, clen);
    Slot* s = find(t, text + start, clen, hash);
    if (!s->used && splitter && clen <= 4096) {
      const int64_t k = sp_split(splitter, text + start, clen, cuts, 300);
      if (k >= 0) {
        for (int64_t j = 0; j < k; ++j)
          if ((ids[j] = wt_id((Words*)words, text + start + cuts[j], cuts[j + 1] - cuts[j])) < 0) return -2;
        if (ct_put(h, text + start, clen, ids, k)) return -2;
        s = find(t, text + start, clen, hash);
      }
    }
    if (!s->used) {
      missing[2 * nm] = start; missing[2 * nm + 1] = clen; ++nm;
    } else if (!nm) {
      memcpy(out + n_out, t->pool + s->ids_off, (size_t)s->n_ids * sizeof(int64_t));
      n_out += s->n_ids;
    }
  }
  *n_missing = nm;
  return nm ? -1 : n_out;
}

/* ---- line and paragraph measures (line_stats.py gives the definition) ---- */
static int64_t cp_count(const unsigned char* p, int64_t a, int64_t b) {
  int64_t n = 0;
  for (int64_t i = a; i < b; ++i) n += (p[i] & 0xC0) != 0x80;
  return n;
}

static int64_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }

/* has s[a:b] a character that is not whitespace (str.strip() != "") */
static int has_text(const unsigned char* p, int64_t a, int64_t b) {
  for (int64_t i = a; i < b;) {
    const int w = ws_len(p, i, b);
    if (!w) return 1;
    i += w;
  }
  return 0;
}

static int64_t last_code_point(const unsigned char* p, int64_t a, int64_t b) {
  int64_t i = b - 1;
  while (i > a && (p[i] & 0xC0) == 0x80) --i;
  const unsigned char c = p[i];
  const int64_t n = utf8_len(c);
  int64_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (int64_t k = 1; k < n && i + k < b; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
  return cp;
}

static int in_sorted(const int32_t* v, int64_t n, int64_t x) {
  int64_t lo = 0, hi = n;
  while (lo < hi) { const int64_t mid = (lo + hi) / 2; if (v[mid] < x) lo = mid + 1; else hi = mid; }
  return lo < n && v[lo] == x;
}

/* The pieces of p[a:b] between runs of at least min_run newlines (empty first and last pieces
   kept, as re.split gives them) as (start, end) pairs in spans; returns how many. */
static int64_t split_newline_runs(const unsigned char* p, int64_t a, int64_t b, int64_t min_run, int64_t* spans) {
  int64_t n = 0, start = a, i = a;
  while (i < b) {
    if (p[i] != '\n') { ++i; continue; }
    int64_t j = i;
    while (j < b && p[j] == '\n') ++j;
    if (j - i >= min_run) { spans[2 * n] = start; spans[2 * n + 1] = i; ++n; start = j; }
    i = j;
  }
  spans[2 * n] = start; spans[2 * n + 1] = b;
  return n + 1;
}

/* spans[2k], spans[2k+1] = start, end; (repeats of an earlier span, their characters) */
static int dup_spans(const unsigned char* p, const int64_t* spans, int64_t n, int64_t* slots, int64_t cap,
                     int64_t* dup, int64_t* chars) {
  *dup = 0; *chars = 0;
  if (n < 2) return 0;
  int64_t c = 16;
  while (c < 2 * n) c *= 2;
  if (c > cap) return -1;
  for (int64_t i = 0; i < c; ++i) slots[i] = -1;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t a = spans[2 * k], len = spans[2 * k + 1] - a;
    int64_t i = (int64_t)(hash_bytes(p + a, len) & (uint64_t)(c - 1));
    for (;; i = (i + 1) & (c - 1)) {
      const int64_t q = slots[i];
      if (q < 0) { slots[i] = k; break; }
      const int64_t qa = spans[2 * q], qlen = spans[2 * q + 1] - qa;
      if (qlen == len && memcmp(p + qa, p + a, (size_t)len) == 0) { *dup += 1; *chars += cp_count(p, a, a + len); break; }
    }
  }
  return 0;
}

/* bytes of a str.splitlines() line break at p[i] (0 if none): \n \r \r\n \v \f \x1c-\x1e U+0085 U+2028 U+2029 */
static inline int brk_len(const unsigned char* p, int64_t i, int64_t n) {
  const unsigned char c = p[i];
  if (c == '\r') return (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
  if (c == '\n' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e) return 1;
  if (c == 0xc2) return (i + 1 < n && p[i + 1] == 0x85) ? 2 : 0;
  if (c == 0xe2) return (i + 2 < n && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) ? 3 : 0;
  return 0;
}

/* 17 measures per document (see LineStats); texts = buf[bounds[d]:bounds[d+1]], UTF-8. 0, or -1 out of memory. */
int line_stats(const unsigned char* buf, const int64_t* bounds, int64_t docs, int64_t short_len,
               const int32_t* term, int64_t nterm, int64_t* out) {
  int64_t most = 0;
  for (int64_t d = 0; d < docs; ++d) {
    int64_t nl = 0;
    for (int64_t i = bounds[d]; i < bounds[d + 1]; ++i) nl += buf[i] == '\n';
    if (nl > most) most = nl;
  }
  int64_t cap = 16;
  while (cap < 2 * (most + 2)) cap *= 2;
  int64_t* spans = (int64_t*)malloc((size_t)(2 * (most + 2)) * sizeof(int64_t));
  int64_t* slots = (int64_t*)malloc((size_t)cap * sizeof(int64_t));
  if (!spans || !slots) { free(spans); free(slots); return -1; }
  for (int64_t d = 0; d < docs; ++d) {
    const unsigned char* p = buf;
    const int64_t a = bounds[d], b = bounds[d + 1];
    int64_t* o = out + 17 * d;
    o[0] = cp_count(p, a, b);
    /* strip: first and past-the-last non-whitespace characters */
    int64_t sa = b, sb = a;
    for (int64_t i = a; i < b;) {
      const int w = ws_len(p, i, b);
      if (w) { i += w; continue; }
      if (sa == b) sa = i;
      i += utf8_len(p[i]);
      if (i > b) i = b;
      sb = i;
    }
    if (sa > sb) sa = sb = a;
    /* paragraphs: stripped text split at runs of two or more newlines */
    int64_t n = split_newline_runs(p, sa, sb, 2, spans);
    o[1] = n;
    if (dup_spans(p, spans, n, slots, cap, &o[2], &o[3])) { free(spans); free(slots); return -1; }
    /* lines: split at runs of newlines, empty first/last pieces kept */
    n = split_newline_runs(p, a, b, 1, spans);
    o[4] = n;
    if (dup_spans(p, spans, n, slots, cap, &o[5], &o[6])) { free(spans); free(slots); return -1; }
    /* non-blank lines of text.split("\n") */
    n = 0;
    int64_t start = a;
    int64_t terminal = 0, shorts = 0, newlines = 0;
    for (int64_t i = a; i <= b; ++i) {
      if (i == b || p[i] == '\n') {
        if (i < b) ++newlines;
        if (has_text(p, start, i)) {
          spans[2 * n] = start; spans[2 * n + 1] = i; ++n;
          terminal += in_sorted(term, nterm, last_code_point(p, start, i));
          shorts += cp_count(p, start, i) <= short_len;
        }
        start = i + 1;
      }
    }
    o[7] = n; o[8] = terminal; o[9] = shorts;
    int64_t ignore;
    if (dup_spans(p, spans, n, slots, cap, &ignore, &o[10])) { free(spans); free(slots); return -1; }
    o[11] = newlines;
    int64_t hashes = 0, ell = 0;
    for (int64_t i = a; i < b;) {
      const unsigned char c = p[i];
      if (c == '#') { ++hashes; ++i; }
      else if (c == '.' && i + 2 < b && p[i + 1] == '.' && p[i + 2] == '.') { ++ell; i += 3; }
      else if (c == 0xE2 && i + 2 < b && p[i + 1] == 0x80 && p[i + 2] == 0xA6) { ++ell; i += 3; }
      else ++i;
    }
    o[12] = hashes; o[13] = ell;
    /* str.splitlines(): lines, those starting with a bullet after leading blanks, those ending
       with an ellipsis before trailing blanks */
    int64_t nlines = 0, bullets = 0, ellipses = 0;
    start = a;
    for (int64_t i = a; i <= b;) {
      const int bl = i < b ? brk_len(p, i, b) : 0;
      if (i < b && !bl) { ++i; continue; }
      if (i < b || start < b) {
        const int64_t le = i;
        ++nlines;
        int64_t j = start;
        while (j < le) { const int w = ws_len(p, j, le); if (!w) break; j += w; }
        if (j < le && (p[j] == '-' || (j + 2 < le && p[j] == 0xe2 && p[j + 1] == 0x80 && p[j + 2] == 0xa2))) ++bullets;
        int64_t end = start;
        for (int64_t q = start; q < le;) {
          const int w = ws_len(p, q, le);
          if (w) { q += w; continue; }
          q += utf8_len(p[q]);
          if (q > le) q = le;
          end = q;
        }
        if ((end - start >= 3 && p[end - 1] == '.' && p[end - 2] == '.' && p[end - 3] == '.') ||
            (end - start >= 3 && p[end - 3] == 0xe2 && p[end - 2] == 0x80 && p[end - 1] == 0xa6)) ++ellipses;
      }
      if (i >= b) break;
      i += bl;
      start = i;
    }
    o[14] = nlines; o[15] = bullets; o[16] = ellipses;
  }
  free(spans); free(slots);
  return 0;
}

/* Gopher repetition measures per document over word ids (positions index the whole batch; cum[p] is
   the total length of the words before p). For each n in ns (ascending) with kind 0: the most
   frequent n-gram's length joined by spaces times its count, ties to the n-gram seen first; kind 1:
   datatrove's greedy scan, adding the characters of an n-gram seen before and jumping past it.
   out[d * nn + k] = -1 when document d has fewer than n words. Returns 0, or -1 out of memory. */
int ngram_stats(const int64_t* ids, const int64_t* cum, const int64_t* bounds, int64_t docs,
                const int64_t* ns, const int64_t* kinds, int64_t nn, int64_t* out) {
  int64_t most = 0;
  for (int64_t d = 0; d < docs; ++d) if (bounds[d + 1] - bounds[d] > most) most = bounds[d + 1] - bounds[d];
  int64_t cap = 16;
  while (cap < 2 * most) cap *= 2;
  uint64_t* hsh = (uint64_t*)malloc((size_t)(most + 1) * sizeof(uint64_t));
  int64_t* slot_pos = (int64_t*)malloc((size_t)cap * sizeof(int64_t));
  int64_t* slot_cnt = (int64_t*)malloc((size_t)cap * sizeof(int64_t));
  int64_t* where = (int64_t*)malloc((size_t)(most + 1) * sizeof(int64_t));
  if (!hsh || !slot_pos || !slot_cnt || !where) { free(hsh); free(slot_pos); free(slot_cnt); free(where); return -1; }
  for (int64_t d = 0; d < docs; ++d) {
    const int64_t b0 = bounds[d], W = bounds[d + 1] - bounds[d];
    const int64_t* x = ids + b0;
    int64_t c = 16;
    while (c < 2 * W) c *= 2;
    const int64_t mask = c - 1;
    for (int64_t p = 0; p < W; ++p) hsh[p] = 0x243F6A8885A308D3ULL;
    int64_t level = 0;
    for (int64_t k = 0; k < nn; ++k) {
      const int64_t n = ns[k];
      if (W < n) { out[d * nn + k] = -1; continue; }
      for (; level < n; ++level)
        for (int64_t p = 0; p + level < W; ++p)
          hsh[p] = mix64(hsh[p] ^ ((uint64_t)x[p + level] + 0x9E3779B97F4A7C15ULL * (uint64_t)(level + 1)));
      const int64_t P = W - n + 1;
      for (int64_t i = 0; i < c; ++i) slot_pos[i] = -1;
      if (kinds[k] == 0) {
        int64_t best = 0;
        for (int64_t p = 0; p < P; ++p) {
          int64_t i = (int64_t)(hsh[p] & (uint64_t)mask);
          for (;; i = (i + 1) & mask) {
            const int64_t q = slot_pos[i];
            if (q < 0) { slot_pos[i] = p; slot_cnt[i] = 1; break; }
            if (hsh[q] == hsh[p] && memcmp(x + q, x + p, (size_t)n * sizeof(int64_t)) == 0) { slot_cnt[i] += 1; break; }
          }
          where[p] = i;
          if (slot_cnt[i] > best) best = slot_cnt[i];
        }
        int64_t first = 0;
        for (int64_t p = 0; p < P; ++p) if (slot_cnt[where[p]] == best) { first = slot_pos[where[p]]; break; }
        out[d * nn + k] = (cum[b0 + first + n] - cum[b0 + first] + n - 1) * best;
      } else {
        int64_t total = 0, p = 0;
        while (p < P) {
          int64_t i = (int64_t)(hsh[p] & (uint64_t)mask);
          int seen = 0;
          for (;; i = (i + 1) & mask) {
            const int64_t q = slot_pos[i];
            if (q < 0) { slot_pos[i] = p; break; }
            if (hsh[q] == hsh[p] && memcmp(x + q, x + p, (size_t)n * sizeof(int64_t)) == 0) { seen = 1; break; }
          }
          if (seen) { total += cum[b0 + p + n] - cum[b0 + p]; p += n; } else { p += 1; }
        }
        out[d * nn + k] = total;
      }
    }
  }
  free(hsh); free(slot_pos); free(slot_cnt); free(where);
  return 0;
}
"""

_I64, _PTR = ctypes.c_int64, ctypes.c_void_p

_SIGNATURES = {
    "ct_new": ([], _PTR), "ct_free": ([_PTR], None), "ct_clear": ([_PTR], None), "ct_count": ([_PTR], _I64),
    "ct_put": ([_PTR, ctypes.c_char_p, _I64, _PTR, _I64], ctypes.c_int),
    "ct_put_many": ([_PTR, ctypes.c_char_p, _PTR, _I64, _PTR, _PTR], ctypes.c_int),
    "ct_doc": ([_PTR, _PTR, _PTR, ctypes.c_char_p, _I64, _PTR, _PTR, _PTR], _I64),
    "wt_new": ([], _PTR), "wt_free": ([_PTR], None), "wt_clear": ([_PTR], None), "wt_count": ([_PTR], _I64),
    "wt_ids": ([_PTR, ctypes.c_char_p, _PTR, _I64, _PTR], ctypes.c_int),
    "wt_words": ([_PTR, _I64, _PTR, _PTR], _I64),
    "sp_new": ([_PTR] * 15, _PTR), "sp_free": ([_PTR], None),
    "sp_split": ([_PTR, ctypes.c_char_p, _I64, _PTR, _I64], _I64),
    "ngram_stats": ([_PTR, _PTR, _PTR, _I64, _PTR, _PTR, _I64, _PTR], ctypes.c_int),
    "line_stats": ([ctypes.c_char_p, _PTR, _I64, _I64, _PTR, _I64, _PTR], ctypes.c_int),
}


def library() -> ctypes.CDLL | None:
    """The compiled loops, or None without a compiler or with `SYMBOLICLIGHT_NO_NATIVE=1` (the
    callers then take their Python path; a failed build warns once)."""
    return _LIBRARY.get()


def _build() -> ctypes.CDLL:
    lib = build_library("textstats", _SOURCE)
    for name, (args, res) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


_LIBRARY = LazyLibrary(_build, "the Python path for the text loops")


def _addr(a: np.ndarray) -> int:
    return a.ctypes.data


def _bounds(lengths: list[int]) -> np.ndarray:
    b = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=b[1:])
    return b


class WordTable:
    """Word bytes → id in C, ids handed out in first-seen order (mirrored by a Python `WordIndex`)."""

    def __init__(self, lib: ctypes.CDLL):
        self._lib = lib
        self._h = lib.wt_new()
        if not self._h:
            raise MemoryError("word table")

    def __len__(self) -> int:
        return int(self._lib.wt_count(self._h))

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            self._lib.wt_free(h)

    def clear(self) -> None:
        self._lib.wt_clear(self._h)

    def ids(self, words: list[bytes]) -> list[int]:
        out = np.empty(len(words), np.int64)
        kb = _bounds([len(w) for w in words])  # held: C reads it during the call
        if words and self._lib.wt_ids(self._h, b"".join(words), _addr(kb), len(words), _addr(out)):
            raise MemoryError("word table")
        return out.tolist()

    def words_since(self, start: int) -> list[bytes]:
        """The words with ids start, start + 1, ... (as bytes)."""
        n = len(self) - start
        if n <= 0:
            return []
        size = self._lib.wt_words(self._h, start, None, None)
        buf = ctypes.create_string_buffer(max(size, 1))
        lens = np.empty(n, np.int64)
        self._lib.wt_words(self._h, start, buf, _addr(lens))
        raw = buf.raw[:size]
        b = _bounds(lens.tolist()).tolist()
        return [raw[b[k]:b[k + 1]] for k in range(n)]


class AffixSplitter:
    """spaCy's affix loop for ASCII chunks in C (`sp_split`), built from the rules' own regexes
    (`affix_programs`); it declines (Python splits) whatever it cannot decide exactly."""

    def __init__(self, lib: ctypes.CDLL, rules):
        from .affix_programs import mandatory_ascii, packed_programs

        if rules.token_match is not None:
            raise ValueError("a token_match rule needs the Python splitter")
        self._lib = lib
        self._keep = []  # arrays the C struct points into
        ptrs = []
        for fn, kind in ((rules.prefix_search, "prefix"), (rules.suffix_search, "suffix"),
                         (rules.infix_finditer, "infix")):
            arrays = [np.ascontiguousarray(a) if a.size else np.zeros(2, a.dtype)
                      for a in packed_programs(fn.__self__, kind)]
            self._keep.extend(arrays)  # never a NULL pointer, and alive as long as the struct
            ptrs.extend(_addr(a) for a in arrays)
        # characters every URL match consumes: a chunk lacking one cannot be a URL; no URL rule at
        # all is "needs a non-ASCII character" (never matches), nothing known (0) sends every
        # infix-bearing chunk to Python
        need = mandatory_ascii(rules.url_match.__self__) if rules.url_match is not None else 1 << 128
        url = np.array([need & (2**64 - 1), (need >> 64) & (2**64 - 1), need >> 128], np.uint64)
        self._keep.append(url)
        self.specials = ChunkTable(lib)
        for key in rules.specials:
            self.specials.put(key.encode("utf-8", "surrogatepass"), np.zeros(0, np.int64))
        self.pairs = ChunkTable(lib)
        for a, b in rules.by_pair:
            self.pairs.put(a.encode("utf-8", "surrogatepass") + b"\0" + b.encode("utf-8", "surrogatepass"),
                           np.zeros(0, np.int64))
        self._h = lib.sp_new(*ptrs, _addr(url), self.specials._h, self.pairs._h)
        self._rules = rules
        self._pairs = frozenset(rules.by_pair)
        self._cuts = np.empty(300, np.int64)
        self._cuts_addr = _addr(self._cuts)
        if not self._h:
            raise MemoryError("splitter")

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            self._lib.sp_free(h)

    def split_bytes(self, data: bytes) -> list[bytes] | None:
        """The tokens of one chunk, or None when Python's loop must decide. For a chunk whose infix
        split hinges on the URL rule, the C cuts are finished here with one `url_match` call."""
        cuts = self._cuts
        k = self._lib.sp_split(self._h, data, len(data), self._cuts_addr, len(cuts))
        if k == -3:
            c = cuts.tolist()
            k, lo, hi = c[-3], c[-2], c[-1]
            b = c[:k + 1]
            if not self._rules.url_match(data[lo:hi].decode("ascii")):
                return [data[b[j]:b[j + 1]] for j in range(k)]
            b = [x for x in b if x <= lo or x >= hi]  # the middle part stays one token
            toks = [data[x:y] for x, y in zip(b, b[1:], strict=False)]
            words = [t.decode("ascii") for t in toks]
            if not self._pairs.isdisjoint(zip(words, words[1:], strict=False)):
                return None  # a special-case pattern may re-merge tokens: Python's matcher pass
            return toks
        if k < 0:
            return None
        c = cuts[:k + 1].tolist()
        return [data[c[j]:c[j + 1]] for j in range(k)]

    def split(self, chunk: str) -> list[str] | None:
        """The chunk's tokens, or None when the C loop leaves it to Python (for tests and tools)."""
        toks = self.split_bytes(chunk.encode("utf-8", "surrogatepass"))
        return None if toks is None else [t.decode("ascii") for t in toks]


class ChunkTable:
    """Chunk bytes → word ids, in C (see the module docstring). Not picklable: each process makes its own."""

    def __init__(self, lib: ctypes.CDLL):
        self._lib = lib
        self._h = lib.ct_new()
        if not self._h:
            raise MemoryError("chunk table")
        self._out = np.empty(0, np.int64)
        self._missing = np.empty(0, np.int64)
        self._n_missing = np.zeros(1, np.int64)

    def __len__(self) -> int:
        return int(self._lib.ct_count(self._h))

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            self._lib.ct_free(h)

    def clear(self) -> None:
        self._lib.ct_clear(self._h)

    def put(self, chunk: bytes, ids: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if self._lib.ct_put(self._h, chunk, len(chunk), _addr(ids), len(ids)):
            raise MemoryError("chunk table")

    def put_many(self, chunks: list[bytes], ids: list[list[int]]) -> None:
        """`put` for many chunks in one call (a ctypes call costs about as much as a short split)."""
        if not chunks:
            return
        ib = _bounds([len(x) for x in ids])
        kb = _bounds([len(c) for c in chunks])  # held: C reads it during the call
        flat = np.fromiter((i for x in ids for i in x), np.int64, int(ib[-1]))
        if self._lib.ct_put_many(self._h, b"".join(chunks), _addr(kb), len(chunks), _addr(flat), _addr(ib)):
            raise MemoryError("chunk table")

    def doc_ids(self, data: bytes, words: WordTable | None = None,
                splitter: AffixSplitter | None = None) -> tuple[np.ndarray | None, list[bytes]]:
        """(word ids of every chunk, []) when all chunks are known or split in C, else (None, the
        chunks left for Python)."""
        n = len(data)
        if len(self._out) < n + 1:
            self._out = np.empty(2 * n + 16, np.int64)
            self._missing = np.empty(2 * (2 * n + 16), np.int64)
            self._addrs = (_addr(self._out), _addr(self._missing), _addr(self._n_missing))
        both = words is not None and splitter is not None
        got = self._lib.ct_doc(self._h, words._h if both else None, splitter._h if both else None, data, n,
                               *self._addrs)
        if got == -2:
            raise MemoryError("chunk table")
        if got >= 0:
            return self._out[:got].copy(), []
        pairs = self._missing[: 2 * int(self._n_missing[0])].tolist()
        return None, [data[a:a + b] for a, b in zip(pairs[::2], pairs[1::2], strict=True)]


def ngram_stats(lib: ctypes.CDLL, ids: np.ndarray, cum: np.ndarray, bounds: np.ndarray,
                ns: list[int], kinds: list[int]) -> np.ndarray:
    """[documents, len(ns)] int64: kind 0 = top n-gram characters, kind 1 = duplicate n-gram
    characters (see the C source); -1 where a document has fewer than n words."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    cum = np.ascontiguousarray(cum, dtype=np.int64)
    bounds = np.ascontiguousarray(bounds, dtype=np.int64)
    order = np.argsort(np.asarray(ns, dtype=np.int64), kind="stable")
    ns_sorted = np.asarray(ns, dtype=np.int64)[order]
    kinds_sorted = np.asarray(kinds, dtype=np.int64)[order]
    docs = len(bounds) - 1
    out = np.empty((docs, len(ns)), np.int64)
    if docs and len(ns):
        if lib.ngram_stats(_addr(ids), _addr(cum), _addr(bounds), docs, _addr(ns_sorted), _addr(kinds_sorted),
                           len(ns), _addr(out)):
            raise MemoryError("n-gram statistics")
    result = np.empty_like(out)
    result[:, order] = out
    return result


def line_stats_native(lib: ctypes.CDLL, texts: list[str], short_len: int, terminal: np.ndarray) -> np.ndarray:
    """[documents, 17] int64: the `line_stats.LineStats` fields of each text, in one C pass."""
    raw = [t.encode("utf-8", "surrogatepass") for t in texts]
    bounds = _bounds([len(r) for r in raw])
    terminal = np.ascontiguousarray(terminal, dtype=np.int32)
    out = np.empty((len(texts), 17), np.int64)
    if lib.line_stats(b"".join(raw), _addr(bounds), len(texts), short_len, _addr(terminal), len(terminal), _addr(out)):
        raise MemoryError("line statistics")
    return out
