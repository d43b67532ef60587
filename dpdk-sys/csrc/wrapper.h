/* Headers bound by bindgen, plus brisk_* wrappers for DPDK's static-inline functions
 * (bindgen cannot call those directly). */
#ifndef BRISK_DPDK_WRAPPER_H
#define BRISK_DPDK_WRAPPER_H

#include <rte_config.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_version.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_dev.h>
#include <rte_bus_vdev.h>
#include <rte_ring.h>
#include <rte_eth_ring.h>
#include <rte_thread.h>
#include <rte_malloc.h>

uint16_t brisk_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t brisk_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *brisk_pktmbuf_alloc(struct rte_mempool *mp);
int brisk_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned int n);
void brisk_pktmbuf_free(struct rte_mbuf *m);
void brisk_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int n);
void brisk_pktmbuf_reset(struct rte_mbuf *m);

char *brisk_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t brisk_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t brisk_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t brisk_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t brisk_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t brisk_pktmbuf_tailroom(const struct rte_mbuf *m);
char *brisk_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *brisk_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *brisk_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int brisk_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
int brisk_pktmbuf_linearize(struct rte_mbuf *m);
uint16_t brisk_mbuf_refcnt_update(struct rte_mbuf *m, int16_t value);
uint16_t brisk_mbuf_refcnt_read(const struct rte_mbuf *m);
uint16_t brisk_mbuf_port(const struct rte_mbuf *m);
uint32_t brisk_mbuf_rss_hash(const struct rte_mbuf *m);
uint64_t brisk_mbuf_ol_flags(const struct rte_mbuf *m);
struct rte_mempool *brisk_mbuf_pool(const struct rte_mbuf *m);
void brisk_prefetch0(const void *p);

unsigned brisk_lcore_id(void);
unsigned brisk_socket_id(void);
uint64_t brisk_rdtsc(void);
uint64_t brisk_get_tsc_hz(void);
int brisk_errno(void);
unsigned brisk_mempool_avail_count(const struct rte_mempool *mp);
unsigned brisk_mempool_in_use_count(const struct rte_mempool *mp);
const char *brisk_version(void);

#endif
