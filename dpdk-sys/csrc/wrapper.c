/* Out-of-line versions of DPDK's static-inline functions, so Rust can call them. */
#include "wrapper.h"

uint16_t brisk_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t brisk_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n)
{
    return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *brisk_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int brisk_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int n)
{
    return rte_pktmbuf_alloc_bulk(mp, mbufs, n);
}

void brisk_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void brisk_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int n) { rte_pktmbuf_free_bulk(mbufs, n); }

void brisk_pktmbuf_reset(struct rte_mbuf *m) { rte_pktmbuf_reset(m); }

char *brisk_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, char *); }

uint16_t brisk_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }

uint32_t brisk_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

uint16_t brisk_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

uint16_t brisk_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }

uint16_t brisk_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

char *brisk_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }

char *brisk_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }

char *brisk_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }

int brisk_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }

int brisk_pktmbuf_linearize(struct rte_mbuf *m) { return rte_pktmbuf_linearize(m); }

uint16_t brisk_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value) { return rte_mbuf_refcnt_update(m, value); }

uint16_t brisk_mbuf_refcnt_read(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }

uint16_t brisk_mbuf_port(const struct rte_mbuf *m) { return m->port; }

uint32_t brisk_mbuf_rss_hash(const struct rte_mbuf *m) { return m->hash.rss; }

uint64_t brisk_mbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }

struct rte_mempool *brisk_mbuf_pool(const struct rte_mbuf *m) { return m->pool; }

void brisk_prefetch0(const void *p) { rte_prefetch0(p); }

unsigned brisk_lcore_id(void) { return rte_lcore_id(); }

unsigned brisk_socket_id(void) { return rte_socket_id(); }

uint64_t brisk_rdtsc(void) { return rte_rdtsc(); }

uint64_t brisk_get_tsc_hz(void) { return rte_get_tsc_hz(); }

int brisk_errno(void) { return rte_errno; }

unsigned brisk_mempool_avail_count(const struct rte_mempool *mp) { return rte_mempool_avail_count(mp); }

unsigned brisk_mempool_in_use_count(const struct rte_mempool *mp) { return rte_mempool_in_use_count(mp); }

const char *brisk_version(void) { return rte_version(); }
