package transport

import "unsafe"

// unsafePointer views a control message header in place; the buffer comes
// from the kernel laid out with the platform's alignment.
func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }

// unsafePointer2 passes a syscall structure to the kernel or reinterprets a
// sockaddr by its family, as the C API does.
func unsafePointer2[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
