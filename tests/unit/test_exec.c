/* test_exec.c - what the kernel would run (exec.h): #! lines as binfmt_script reads them, and ELF files the shim
 * can or cannot enter, from buffers built here and from the system's own programs. */
#include "fakes.h"
#include "exec.h"

#include <elf.h>

struct buf {
	const unsigned char *p;
	size_t n;
};

static ssize_t read_buf(void *ctx, void *out, size_t n, off_t off)
{
	const struct buf *b = ctx;

	if ((size_t)off >= b->n)
		return 0;
	if (n > b->n - (size_t)off)
		n = b->n - (size_t)off;
	memcpy(out, b->p + off, n);
	return (ssize_t)n;
}

static int inspect_text(const char *text, struct ps_exec_info *info)
{
	struct buf b = { (const unsigned char *)text, strlen(text) };

	return ps_exec_inspect(read_buf, &b, info);
}

static void test_shebang_interpreter_alone(void **state)
{
	struct ps_exec_info info;

	(void)state;
	assert_int_equal(inspect_text("#!/bin/sh\necho hi\n", &info), 0);
	assert_int_equal(info.format, PS_EXEC_SCRIPT);
	assert_string_equal(info.interp, "/bin/sh");
	assert_false(info.has_arg);
}

static void test_shebang_argument_is_one_string_with_inner_blanks(void **state)
{
	struct ps_exec_info info;

	(void)state;
	assert_int_equal(inspect_text("#!  /usr/bin/env \t python3 -u  \t\nprint()\n", &info), 0);
	assert_string_equal(info.interp, "/usr/bin/env");
	assert_true(info.has_arg);
	assert_string_equal(info.arg, "python3 -u");
}

static void test_shebang_keeps_carriage_return_as_the_kernel_does(void **state)
{
	struct ps_exec_info info;

	(void)state;
	assert_int_equal(inspect_text("#!/bin/sh\r\n", &info), 0);
	assert_string_equal(info.interp, "/bin/sh\r");
}

static void test_empty_shebang_is_not_a_script(void **state)
{
	struct ps_exec_info info;

	(void)state;
	assert_int_equal(inspect_text("#!   \nbody\n", &info), 0);
	assert_int_equal(info.format, PS_EXEC_OTHER);
	assert_int_equal(inspect_text("plain text\n", &info), 0);
	assert_int_equal(info.format, PS_EXEC_OTHER);
}

static void test_shebang_filling_the_buffer_without_blank_is_refused(void **state)
{
	char text[PS_SHEBANG_MAX + 50];
	struct ps_exec_info info;

	(void)state;
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	text[0] = '#';
	text[1] = '!';
	text[2] = '/';
	assert_int_equal(inspect_text(text, &info), 0);
	assert_int_equal(info.format, PS_EXEC_OTHER); /* exec says ENOEXEC */
	text[40] = ' '; /* a blank after the interpreter: the rest of the buffer is its argument */
	assert_int_equal(inspect_text(text, &info), 0);
	assert_int_equal(info.format, PS_EXEC_SCRIPT);
	assert_int_equal(strlen(info.interp), 38);
}

/* An ELF header and program headers: type, class, and an optional PT_INTERP naming interp. */
struct elf_image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	char interp[64];
	unsigned char notes[64];
};

static struct buf make_elf(struct elf_image *img, int type, int elfclass, int machine, const char *interp)
{
	memset(img, 0, sizeof(*img));
	memcpy(img->eh.e_ident, ELFMAG, SELFMAG);
	img->eh.e_ident[EI_CLASS] = (unsigned char)elfclass;
	img->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	img->eh.e_type = (Elf64_Half)type;
	img->eh.e_machine = (Elf64_Half)machine;
	img->eh.e_entry = 0x1000;
	img->eh.e_phoff = offsetof(struct elf_image, ph);
	img->eh.e_phentsize = sizeof(Elf64_Phdr);
	img->eh.e_phnum = 1;
	img->ph[0].p_type = PT_LOAD;
	if (interp) {
		img->eh.e_phnum = 2;
		img->ph[1].p_type = PT_INTERP;
		img->ph[1].p_offset = offsetof(struct elf_image, interp);
		img->ph[1].p_filesz = strlen(interp) + 1;
		strcpy(img->interp, interp);
	}
	return (struct buf){ (const unsigned char *)img, sizeof(*img) };
}

static void test_elf_classification(void **state)
{
	struct elf_image img;
	struct ps_exec_info info;
	struct buf b;

	(void)state;
	b = make_elf(&img, ET_DYN, ELFCLASS64, EM_X86_64, "/lib64/ld-linux-x86-64.so.2");
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_DYNAMIC);
	b = make_elf(&img, ET_EXEC, ELFCLASS64, EM_X86_64, NULL);
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_STATIC);
	assert_non_null(ps_exec_why_unshimmable(&info));
	b = make_elf(&img, ET_DYN, ELFCLASS64, EM_X86_64, "/lib/ld-musl-x86_64.so.1");
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_FOREIGN);
	b = make_elf(&img, ET_EXEC, ELFCLASS32, EM_386, "/lib/ld-linux.so.2");
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_FOREIGN);
	b = make_elf(&img, ET_DYN, ELFCLASS64, EM_AARCH64, "/lib/ld-linux-aarch64.so.1");
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_FOREIGN);
	b = make_elf(&img, ET_DYN, ELFCLASS64, EM_X86_64, NULL); /* a shared library: nobody runs it */
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_DYNAMIC);
	assert_null(ps_exec_why_unshimmable(&info));
}

/* Add a PT_NOTE segment: a GNU build-id note, then (go) Go's build-id note. */
static void add_notes(struct elf_image *img, int go)
{
	static const unsigned char gnu[] = { 4, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0, 1, 2, 3, 4 };
	static const unsigned char gonote[] = { 4, 0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 'G', 'o', 0, 0, /* as Go writes it */
						'b', 'u', 'i', 'l', 'd', 'i', 'd', '!' };
	Elf64_Phdr *ph = &img->ph[img->eh.e_phnum++];
	size_t n = sizeof(gnu);

	memcpy(img->notes, gnu, sizeof(gnu));
	if (go) {
		memcpy(img->notes + n, gonote, sizeof(gonote));
		n += sizeof(gonote);
	}
	ph->p_type = PT_NOTE;
	ph->p_offset = offsetof(struct elf_image, notes);
	ph->p_filesz = n;
}

static void test_go_programs_are_recognised_static_or_dynamic(void **state)
{
	struct elf_image img;
	struct ps_exec_info info;
	struct buf b;

	(void)state;
	b = make_elf(&img, ET_EXEC, ELFCLASS64, EM_X86_64, NULL);
	add_notes(&img, 1);
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_GO);
	assert_non_null(strstr(ps_exec_why_unshimmable(&info), "Go program"));
	b = make_elf(&img, ET_DYN, ELFCLASS64, EM_X86_64, "/lib64/ld-linux-x86-64.so.2");
	add_notes(&img, 1);
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_GO);
	b = make_elf(&img, ET_DYN, ELFCLASS64, EM_X86_64, "/lib64/ld-linux-x86-64.so.2");
	add_notes(&img, 0); /* a GNU build-id alone is any C program's */
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
	assert_int_equal(info.format, PS_EXEC_DYNAMIC);
}

static void test_truncated_elf_is_not_an_error(void **state)
{
	struct elf_image img;
	struct ps_exec_info info;
	struct buf b = make_elf(&img, ET_EXEC, ELFCLASS64, EM_X86_64, NULL);

	(void)state;
	b.n = EI_NIDENT + 4;
	assert_int_equal(ps_exec_inspect(read_buf, &b, &info), 0);
}

static void test_system_programs(void **state)
{
	struct ps_exec_info info;
	int fd = open("/bin/sh", O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ps_exec_inspect(ps_exec_read_fd, &fd, &info), 0);
	close(fd);
	assert_int_equal(info.format, PS_EXEC_DYNAMIC);
	assert_non_null(strstr(info.interp, "ld-linux"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shebang_interpreter_alone),
		cmocka_unit_test(test_shebang_argument_is_one_string_with_inner_blanks),
		cmocka_unit_test(test_shebang_keeps_carriage_return_as_the_kernel_does),
		cmocka_unit_test(test_empty_shebang_is_not_a_script),
		cmocka_unit_test(test_shebang_filling_the_buffer_without_blank_is_refused),
		cmocka_unit_test(test_elf_classification),
		cmocka_unit_test(test_go_programs_are_recognised_static_or_dynamic),
		cmocka_unit_test(test_truncated_elf_is_not_an_error),
		cmocka_unit_test(test_system_programs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
