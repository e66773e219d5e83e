/**
 * The references the stock latency models cite, keyed as their constants cite them
 * (`"A2 derived: ..."` cites `A2`). `SOURCES.md` beside this file gives each constant's
 * value, derivation and the figure it comes from; a test checks that every key cited by a
 * constant has an entry in both.
 *
 * @module
 */

/**
 * Reference of each source key: what it is and where the figure is.
 *
 * @example
 * ```ts
 * import { REFERENCES } from "./_sources.ts";
 * console.assert(REFERENCES.A2.includes("Fig. 7"));
 * ```
 */
export const REFERENCES: Readonly<Record<string, string>> = Object.freeze({
  A1: "Shan, Huang, Chen, Zhang: LegoOS: A Disseminated, Distributed OS for Hardware Resource " +
    "Disaggregation, OSDI 2018, sections 4-6 (testbed: Xeon E5-2620 v3, 40 Gbps ConnectX-3 " +
    "InfiniBand, 4 KB ExCache lines, NVMe SSD); also in Y. Shan's UCSD thesis (2022), " +
    "lastweek/2022-UCSD-Thesis lego/paper.pdf",
  A2: "LegoOS OSDI 2018 measured data, lastweek/2022-UCSD-Thesis " +
    "lego/Data/data_LEGO_{latency,iops,iops_storage}.tab: Fig. 7 (RPC latency by size, " +
    "LegoOS RPC and Linux IPoIB), Fig. 8 (cold-miss IOPS by threads and workers), Fig. 9 " +
    "(4 KB storage IOPS at QD1, Linux and LegoOS)",
  A3: "WukLab/LegoOS Documentation/profile.md: per-operation profile (pcache_miss, " +
    "pcache_flush, RPC send/reply by size with 1 and 4 threads)",
  C1: "Intel ARK, Xeon E5-2620 v3 (SR207): 6 cores, 2.4 GHz base, 4 DDR4-1866 channels; " +
    "Intel 64 and IA-32 Architectures Optimization Reference Manual, Haswell " +
    "microarchitecture: two FMA units, 256-bit AVX2",
  L1: "M. Kim, 'skip swapcache for swapin of synchronous device', linux-mm, 2017: zram " +
    "swap-in per page 1.84 us with the swap cache, 1.25 us without (5 GB sequential)",
  N1: "Yang et al., An Empirical Guide to the Behavior and Use of Scalable Persistent Memory, " +
    "FAST 2020, NVSL/OptaneStudy graphs/02,03,04-*.csv: Optane and DRAM latency and " +
    "bandwidth (Cascade Lake, 6 channels DDR4-2666)",
  N3: "anujkaliaiitd/pmem-bench rdma/rdma-write-flush-lat/README.md: remote persistent 16 B " +
    "write, WRITE 1.3 us; WRITE + READ flush with DDIO off 2.6 us p50, 2.9 us p99 " +
    "(developer note; the Kalia et al. SoCC 2020 paper's figures are UNCONFIRMED)",
  N4: "grayxu.cn summary of the ATC 2021 study of RDMA with persistent memory: with DDIO on, " +
    "NIC writes land in the last-level cache, so a READ alone does not make them persistent",
  R1: "Clio (Guo et al., ASPLOS 2022) testbed data, lastweek/2022-UCSD-Thesis " +
    "clio/Data/data_{read,write}_latency.tab: one-sided RDMA READ/WRITE latency by size on " +
    "ConnectX-3 40 Gbps",
  R2: "erpc-io/eRPC README.md (Kalia et al., NSDI 2019): 2.3 us round trip (UDP over " +
    "Ethernet), about 10 M small RPC/s per core, 60-80 M RPC/s per NIC, 75 Gbps with one core",
});

/**
 * The source keys a constant's `source` text cites: every `A2`-style token in it.
 *
 * @example
 * ```ts
 * import { citedKeys } from "./_sources.ts";
 * console.assert(citedKeys("A2 derived: 8.0 - 6.52 (A2, A3)").join() === "A2,A3");
 * console.assert(citedKeys("options.x (default from C1)").join() === "C1");
 * console.assert(citedKeys("C1: Xeon E5-2620 v3").join() === "C1");
 * ```
 */
export function citedKeys(source: string): string[] {
  // A key is a capital and a digit standing alone ("E5-2620" is a part number, not a key).
  return [...new Set(source.match(/\b[A-Z]\d\b(?!-)/g) ?? [])];
}
