/**
 * Linux ABI constants used on the wire (protection bits, mapping flags, open flags), so
 * that address-space and file calls mean what they mean on Linux.
 *
 * @module
 */

/** Pages may be read. */
export const PROT_READ = 0x1;
/** Pages may be written. */
export const PROT_WRITE = 0x2;
/** Pages may be executed. */
export const PROT_EXEC = 0x4;
/** Pages may not be accessed. */
export const PROT_NONE = 0x0;

/** Shared mapping. */
export const MAP_SHARED = 0x01;
/** Private mapping. */
export const MAP_PRIVATE = 0x02;
/** Shared mapping that rejects unknown flags. */
export const MAP_SHARED_VALIDATE = 0x03;
/** Place the mapping exactly at the given address. */
export const MAP_FIXED = 0x10;
/** Not backed by a file; zero-filled. */
export const MAP_ANONYMOUS = 0x20;
/** Like `MAP_FIXED`, but fail with `EEXIST` instead of replacing a mapping. */
export const MAP_FIXED_NOREPLACE = 0x100000;

/** `mremap`: the mapping may move. */
export const MREMAP_MAYMOVE = 0x1;
/** `mremap`: move to exactly the given new address. */
export const MREMAP_FIXED = 0x2;
/** `mremap`: move the pages but leave the old range mapped (and empty). */
export const MREMAP_DONTUNMAP = 0x4;

/** Open for reading only. */
export const O_RDONLY = 0o0;
/** Open for writing only. */
export const O_WRONLY = 0o1;
/** Open for reading and writing. */
export const O_RDWR = 0o2;
/** Create the file if it does not exist. */
export const O_CREAT = 0o100;
/** With `O_CREAT`: fail if the file exists. */
export const O_EXCL = 0o200;
/** Truncate the file to length 0. */
export const O_TRUNC = 0o1000;
/** Writes go to the end of the file. */
export const O_APPEND = 0o2000;
