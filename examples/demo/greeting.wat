;; greeting.wat: prints /srv/greetings/en.txt, a file of webcfs/greeting-data's
;; volume that webcfs/demo maps there with `from`: a command that reads a
;; dependency's file through the package tree, preopened as "/" (fd 3).
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0 opened fd | 8 bytes read/written | 16 iovec | 64 the path | 1024.. the file
  (data (i32.const 64) "srv/greetings/en.txt")
  (func (export "_start")
    ;; path_open(fd 3, no flags, path, 20 bytes, no oflags, rights: fd_read, none, no fdflags)
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 20) (i32.const 0)
                         (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0))
      (then (call $proc_exit (i32.const 1))))
    (i32.store (i32.const 16) (i32.const 1024))
    (i32.store (i32.const 20) (i32.const 4096))
    (if (call $fd_read (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 8))
      (then (call $proc_exit (i32.const 2))))
    (i32.store (i32.const 20) (i32.load (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))))
