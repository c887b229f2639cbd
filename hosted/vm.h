/* hosted/vm.h: what hosted/platform.c tells hosted/vm.c, the address space's half of
 * the hosted platform. */
#ifndef GOHEAP_HOSTED_VM_H
#define GOHEAP_HOSTED_VM_H

/* goheap_sys_configure's share for the address space: the release policy (the
 * core's GOHEAP_SYS_RELEASE_*), whether efence or guardrate is on (freed and guard
 * pages must fault), and whether vm.overcommit_memory is strict (released pages give
 * their commit charge back). Mapping ahead is on only without both. */
void goheap_hosted_vm_configure(unsigned release, unsigned fault_reports, int strict_commit);

#endif
