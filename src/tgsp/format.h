/* TGSP v1.0 wire constants (FORMATS.md section 3): magic, algorithm names,
 * frame and key sizes, and the caps this reader puts on untrusted sizes. */
#ifndef CTFS_TGSP_FORMAT_H
#define CTFS_TGSP_FORMAT_H

#define CTFS_TGSP_MAGIC "TGSP\x01\x00"
#define CTFS_TGSP_MAGIC_LEN 6
#define CTFS_TGSP_VERSION "1.0"
#define CTFS_TGSP_AEAD "CHACHA20_POLY1305"
#define CTFS_TGSP_KEM "Hybrid-Kyber-v1"
#define CTFS_TGSP_SIG "Hybrid-Dilithium-v1"

#define CTFS_TGSP_FRAME (4u << 20)	/* plaintext bytes per frame */
/* bound of the inflated archive: see tgsp.h, step 7 */
#define CTFS_TGSP_MAX_RATIO 256u
#define CTFS_TGSP_MIN_INFLATE (64u << 20)
#define CTFS_TGSP_TAG 16
#define CTFS_TGSP_NONCE 12
#define CTFS_TGSP_DEK 32
/* JSON sections are held in memory: larger ones are refused. */
#define CTFS_TGSP_SECTION_MAX (16u << 20)
#define CTFS_TGSP_MAX_RECIPIENTS 4096
/* Bytes of AAD before be64(i): ascii(manifest_hash_hex || recipients_hash_hex). */
#define CTFS_TGSP_AAD_PREFIX 128

#endif
