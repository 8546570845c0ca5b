;; echo.wat: a WASI command that prints its arguments (argv[1..]) separated by
;; spaces, like echo(1). The `greet` command runs it with main-args.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0 argc | 4 argv buffer size | 8 iovec | 16 written | 24 " " | 25 "\n"
  ;; 64.. argv pointers (up to 240 args) | 1024.. argv strings (up to 63 KiB)
  (data (i32.const 24) " \n")
  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 8) (local.get $ptr))
    (i32.store (i32.const 12) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 8) (i32.const 1) (i32.const 16))))
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))
  (func (export "_start")
    (local $i i32) (local $argc i32) (local $arg i32)
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (local.set $argc (i32.load (i32.const 0)))
    (if (i32.gt_u (local.get $argc) (i32.const 240)) (then (local.set $argc (i32.const 240))))
    (if (i32.gt_u (i32.load (i32.const 4)) (i32.const 64512)) (then (return)))
    (drop (call $args_get (i32.const 64) (i32.const 1024)))
    (local.set $i (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $argc)))
        (if (i32.gt_u (local.get $i) (i32.const 1)) (then (call $write (i32.const 24) (i32.const 1))))
        (local.set $arg (i32.load (i32.add (i32.const 64) (i32.shl (local.get $i) (i32.const 2)))))
        (call $write (local.get $arg) (call $strlen (local.get $arg)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $write (i32.const 25) (i32.const 1))))
