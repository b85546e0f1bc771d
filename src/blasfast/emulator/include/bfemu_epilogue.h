// Included after a kernel source by the emulator's generated translation unit, which first
// defines BFEMU_DYN_ARRAY_LIST: the extern __shared__ arrays of the source, as
// `X(name)` entries (possibly none). Defines the library's bfemu_module_info().
#pragma once

#include <dlfcn.h>
#include <link.h>

namespace bfemu_module_detail {

thread_local char tls_anchor;  // touching it allocates this thread's TLS block

struct TlsFind {
    const char* fname;
    void* begin;
    size_t size;
};

inline int find_tls(dl_phdr_info* info, size_t, void* data)
{
    auto* t = static_cast<TlsFind*>(data);
    if (!info->dlpi_name || strcmp(info->dlpi_name, t->fname) != 0) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i)
        if (info->dlpi_phdr[i].p_type == PT_TLS) {
            t->begin = info->dlpi_tls_data;
            t->size = info->dlpi_phdr[i].p_memsz;
        }
    return 1;
}

inline void tls_block(void** begin, size_t* size)
{
    tls_anchor = 1;
    Dl_info di;
    TlsFind t{nullptr, nullptr, 0};
    if (dladdr(reinterpret_cast<void*>(&tls_block), &di) && di.dli_fname) {
        t.fname = di.dli_fname;
        dl_iterate_phdr(&find_tls, &t);
    }
    *begin = t.begin;
    *size = t.size;
}

inline void* dyn_array(int i)
{
    int k = 0;
#define X(name) if (k++ == i) return static_cast<void*>(&name[0]);
    BFEMU_DYN_ARRAY_LIST
#undef X
    (void)k;
    return nullptr;
}

constexpr int count_dyn()
{
    int k = 0;
#define X(name) ++k;
    BFEMU_DYN_ARRAY_LIST
#undef X
    return k;
}

}  // namespace bfemu_module_detail

BFEMU_EXPORT const bfemu_module* bfemu_module_info()
{
    static const bfemu_module m{BFEMU_ABI_VERSION, BFEMU_DYN_CAPACITY,
                                bfemu_module_detail::count_dyn(),
                                &bfemu_module_detail::dyn_array,
                                &bfemu_module_detail::tls_block};
    return &m;
}

#define BFEMU_KERNEL(index, ...) \
    BFEMU_EXPORT const bfemu_kernel* bfemu_kernel_##index() \
    { \
        return bfemu_entry::Entry<&__VA_ARGS__>::info(#__VA_ARGS__); \
    }
