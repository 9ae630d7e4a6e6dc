/* exec.c - classify an executable (see exec.h). */
#include "exec.h"
#include "sys.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#if __SIZEOF_POINTER__ == 8
#define PS_ELFCLASS ELFCLASS64
typedef Elf64_Ehdr ps_ehdr;
typedef Elf64_Phdr ps_phdr;
#else
#define PS_ELFCLASS ELFCLASS32
typedef Elf32_Ehdr ps_ehdr;
typedef Elf32_Phdr ps_phdr;
#endif

#if defined(__x86_64__)
#define PS_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define PS_ELF_MACHINE EM_AARCH64
#elif defined(__i386__)
#define PS_ELF_MACHINE EM_386
#else
#error "unknown ELF machine"
#endif

/* Read exactly n bytes at off; 1 when they are all there, 0 when the file is shorter, -errno. */
static int read_exact(ps_read_at rd, void *ctx, void *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = rd(ctx, (char *)buf + done, n - done, off + (off_t)done);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return 0;
		done += (size_t)r;
	}
	return 1;
}

/* The kernel's binfmt_script rules: skip blanks after "#!", the interpreter ends at a blank, and everything after
 * the following blanks up to the end of the line (trailing spaces and tabs dropped; a '\r' stays, and makes the
 * interpreter's name wrong, as in the kernel) is one argument. A first line that fills the kernel's whole buffer
 * with no blank after the interpreter is refused (ENOEXEC): the name may be cut. */
static int parse_shebang(const char *buf, size_t n, struct ps_exec_info *info)
{
	const char *end = memchr(buf, '\n', n);
	const char *nul = memchr(buf, '\0', n);
	const char *p = buf + 2, *q;

	if (nul && (!end || nul < end))
		end = nul;
	if (!end) {
		if (n >= PS_SHEBANG_MAX) {
			const char *name = buf + 2;

			while (name < buf + n && (*name == ' ' || *name == '\t'))
				name++;
			if (!memchr(name, ' ', (size_t)(buf + n - name)) && !memchr(name, '\t', (size_t)(buf + n - name)))
				return -ENOEXEC;
			n = PS_SHEBANG_MAX - 1;
		}
		end = buf + n;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end)
		return -ENOEXEC;
	for (q = p; q < end && *q != ' ' && *q != '\t'; q++)
		;
	if ((size_t)(q - p) >= sizeof(info->interp))
		return -ENAMETOOLONG;
	memcpy(info->interp, p, (size_t)(q - p));
	info->interp[q - p] = '\0';
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	info->has_arg = q < end;
	memcpy(info->arg, q, (size_t)(end - q));
	info->arg[end - q] = '\0';
	info->format = PS_EXEC_SCRIPT;
	return 0;
}

/* glibc's loaders: ld-linux-x86-64.so.2, ld-linux-aarch64.so.1, ld-linux.so.2, ld64.so.*. */
static int is_glibc_loader(const char *interp)
{
	const char *base = strrchr(interp, '/');

	base = base ? base + 1 : interp;
	return strncmp(base, "ld-linux", 8) == 0 || strncmp(base, "ld64.so", 7) == 0;
}

static int read_interp(ps_read_at rd, void *ctx, const ps_phdr *ph, struct ps_exec_info *info)
{
	int rc;

	if (ph->p_filesz == 0 || ph->p_filesz > sizeof(info->interp))
		return -ENOEXEC;
	rc = read_exact(rd, ctx, info->interp, ph->p_filesz, (off_t)ph->p_offset);
	if (rc <= 0)
		return rc < 0 ? rc : -ENOEXEC;
	info->interp[ph->p_filesz - 1] = '\0';
	return 0;
}

#if __SIZEOF_POINTER__ == 8
typedef Elf64_Dyn ps_dyn;
#else
typedef Elf32_Dyn ps_dyn;
#endif

/* Program header i: 1, 0 when the file is shorter, -errno. */
static int read_phdr(ps_read_at rd, void *ctx, const ps_ehdr *eh, unsigned i, ps_phdr *ph)
{
	return read_exact(rd, ctx, ph, sizeof(*ph), (off_t)(eh->e_phoff + i * sizeof(*ph)));
}

/* The first program header of type: 1 and *ph, 0 when there is none, -errno. */
static int find_phdr(ps_read_at rd, void *ctx, const ps_ehdr *eh, uint32_t type, ps_phdr *ph)
{
	for (unsigned i = 0; i < eh->e_phnum && i < 256; i++) {
		int rc = read_phdr(rd, ctx, eh, i, ph);

		if (rc <= 0)
			return rc;
		if (ph->p_type == type)
			return 1;
	}
	return 0;
}

/* The value of the dynamic section's first entry tagged tag: 1 and *val, 0 when there is none, -errno. */
static int dyn_value(ps_read_at rd, void *ctx, const ps_phdr *dyn, int64_t tag, uint64_t *val)
{
	for (size_t off = 0; off + sizeof(ps_dyn) <= dyn->p_filesz && off < 64 * 1024; off += sizeof(ps_dyn)) {
		ps_dyn d;
		int rc = read_exact(rd, ctx, &d, sizeof(d), (off_t)(dyn->p_offset + off));

		if (rc <= 0)
			return rc;
		if (d.d_tag == DT_NULL)
			return 0;
		if (d.d_tag == tag) {
			*val = d.d_un.d_val;
			return 1;
		}
	}
	return 0;
}

/* DT_FLAGS_1 has DF_1_PIE: 1; 0 when not (a shared library); -errno. */
static int is_static_pie(ps_read_at rd, void *ctx, const ps_ehdr *eh)
{
	ps_phdr dyn;
	uint64_t flags;
	int rc = find_phdr(rd, ctx, eh, PT_DYNAMIC, &dyn);

	if (rc <= 0 || (rc = dyn_value(rd, ctx, &dyn, DT_FLAGS_1, &flags)) <= 0)
		return rc;
	return (flags & DF_1_PIE) != 0;
}

/* Go's linker marks every program with a note named "Go" of type 4 (its build ID); the Go runtime issues file
 * system calls itself, dynamically linked or not, so the shim would see none of them. 1 when found, 0, -errno. */
#define GO_NOTE_BUILDID 4
static int has_go_note(ps_read_at rd, void *ctx, const ps_ehdr *eh)
{
	for (unsigned i = 0; i < eh->e_phnum && i < 256; i++) {
		unsigned char notes[4096];
		ps_phdr ph;
		size_t n, off = 0;
		int rc = read_phdr(rd, ctx, eh, i, &ph);

		if (rc <= 0)
			return rc;
		if (ph.p_type != PT_NOTE)
			continue;
		n = ph.p_filesz < sizeof(notes) ? ph.p_filesz : sizeof(notes);
		if ((rc = read_exact(rd, ctx, notes, n, (off_t)ph.p_offset)) <= 0)
			return rc;
		/* entries are padded to the segment's alignment: 4, or 8 for .note.gnu.property segments */
		size_t pad = ph.p_align == 8 ? 8 : 4;

		while (off + 12 <= n) {
			uint32_t namesz, descsz, type;

			memcpy(&namesz, notes + off, 4);
			memcpy(&descsz, notes + off + 4, 4);
			memcpy(&type, notes + off + 8, 4);
			/* Go's linker writes the name "Go\0\0" with namesz 4; a namesz of 3 is the same name */
			if ((namesz == 3 || namesz == 4) && type == GO_NOTE_BUILDID && off + 15 <= n &&
			    memcmp(notes + off + 12, "Go", 3) == 0)
				return 1;
			off += 12 + (((size_t)namesz + pad - 1) & ~(pad - 1)) + (((size_t)descsz + pad - 1) & ~(pad - 1));
		}
	}
	return 0;
}

static int inspect_elf(ps_read_at rd, void *ctx, const unsigned char *ident, struct ps_exec_info *info)
{
	ps_ehdr eh;
	ps_phdr ph;
	int rc;

	info->format = PS_EXEC_FOREIGN;
	if (ident[EI_CLASS] != PS_ELFCLASS)
		return 0;
	rc = read_exact(rd, ctx, &eh, sizeof(eh), 0);
	if (rc <= 0)
		return rc;
	if (eh.e_machine != PS_ELF_MACHINE || eh.e_phentsize != sizeof(ps_phdr))
		return 0;
	if ((rc = has_go_note(rd, ctx, &eh)) != 0)
		return rc < 0 ? rc : (info->format = PS_EXEC_GO, 0);
	info->format = eh.e_type == ET_DYN ? PS_EXEC_DYNAMIC : PS_EXEC_STATIC; /* a library has no PT_INTERP */
	if ((rc = find_phdr(rd, ctx, &eh, PT_INTERP, &ph)) < 0)
		return rc;
	if (rc > 0) {
		if ((rc = read_interp(rd, ctx, &ph, info)) < 0)
			return rc == -ENOEXEC ? (info->format = PS_EXEC_FOREIGN, 0) : rc;
		info->format = is_glibc_loader(info->interp) ? PS_EXEC_DYNAMIC : PS_EXEC_FOREIGN;
		return 0;
	}
	/* No interpreter: an ET_EXEC is a static program; an ET_DYN is a shared library (which nobody runs) unless
	 * its dynamic section says PIE (a static-pie program). */
	if (eh.e_type == ET_DYN && (rc = is_static_pie(rd, ctx, &eh)) != 0)
		return rc < 0 ? rc : (info->format = PS_EXEC_STATIC, 0);
	return 0;
}

int ps_exec_inspect(ps_read_at rd, void *ctx, struct ps_exec_info *info)
{
	unsigned char head[PS_SHEBANG_MAX];
	ssize_t n = 0;

	memset(info, 0, sizeof(*info));
	info->format = PS_EXEC_OTHER;
	while ((size_t)n < sizeof(head)) {
		ssize_t r = rd(ctx, head + n, sizeof(head) - (size_t)n, n);

		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		n += r;
	}
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		int rc = parse_shebang((const char *)head, (size_t)n, info);

		if (rc == -ENOEXEC) {
			info->format = PS_EXEC_OTHER;
			return 0;
		}
		return rc;
	}
	if (n >= EI_NIDENT && memcmp(head, ELFMAG, SELFMAG) == 0)
		return inspect_elf(rd, ctx, head, info);
	return 0;
}

/* The file offset of virtual address va, through the PT_LOAD that maps it; -1 when none does. */
static off_t va_to_offset(ps_read_at rd, void *ctx, const ps_ehdr *eh, uint64_t va)
{
	for (unsigned i = 0; i < eh->e_phnum && i < 256; i++) {
		ps_phdr ph;

		if (read_phdr(rd, ctx, eh, i, &ph) <= 0)
			return -1;
		if (ph.p_type == PT_LOAD && va >= ph.p_vaddr && va < ph.p_vaddr + ph.p_filesz)
			return (off_t)(va - ph.p_vaddr + ph.p_offset);
	}
	return -1;
}

static void each_entry(const char *list, void (*each)(const char *entry, void *arg), void *arg)
{
	char entry[PATH_MAX];

	for (const char *p = list;;) {
		size_t n = strcspn(p, ":");

		if (n > 0 && n < sizeof(entry)) {
			memcpy(entry, p, n);
			entry[n] = '\0';
			each(entry, arg);
		}
		if (!p[n])
			return;
		p += n + 1;
	}
}

int ps_exec_runpath(ps_read_at rd, void *ctx, void (*each)(const char *entry, void *arg), void *arg)
{
	static const int64_t tags[] = { DT_RUNPATH, DT_RPATH };
	uint64_t strtab, at;
	char list[4096];
	ps_phdr dyn;
	ps_ehdr eh;
	off_t table;
	int rc;

	if ((rc = read_exact(rd, ctx, &eh, sizeof(eh), 0)) <= 0)
		return rc;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != PS_ELFCLASS ||
	    eh.e_phentsize != sizeof(ps_phdr))
		return 0;
	if ((rc = find_phdr(rd, ctx, &eh, PT_DYNAMIC, &dyn)) <= 0 ||
	    (rc = dyn_value(rd, ctx, &dyn, DT_STRTAB, &strtab)) <= 0)
		return rc;
	if ((table = va_to_offset(rd, ctx, &eh, strtab)) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		ssize_t n;

		if ((rc = dyn_value(rd, ctx, &dyn, tags[i], &at)) < 0)
			return rc;
		if (rc == 0 || (n = rd(ctx, list, sizeof(list) - 1, table + (off_t)at)) <= 0)
			continue;
		list[n] = '\0';
		each_entry(list, each, arg);
	}
	return 0;
}

ssize_t ps_exec_read_fd(void *ctx, void *buf, size_t n, off_t off)
{
	ssize_t r = ps_sys->pread(*(int *)ctx, buf, n, off);

	return r < 0 ? -errno : r;
}

const char *ps_exec_why_unshimmable(const struct ps_exec_info *info)
{
	switch (info->format) {
	case PS_EXEC_STATIC:
		return "is statically linked";
	case PS_EXEC_FOREIGN:
		return info->interp[0] ? "uses a dynamic loader other than glibc's" : "is built for another machine";
	case PS_EXEC_GO:
		return "is a Go program (its runtime makes its system calls itself)";
	default:
		return NULL;
	}
}
