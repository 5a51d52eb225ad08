    .intel_syntax noprefix
    .globl _start
    .text
_start:
    mov   r13, [rsp]              # argc
    mov   rsi, [rsp+16]           # argv[1]: decimal fd of the channel
    xor   edi, edi
1:  movzx eax, byte ptr [rsi]
    test  al, al
    jz    2f
    imul  edi, edi, 10
    lea   edi, [rdi+rax-48]
    inc   rsi
    jmp   1b
2:  mov   r12d, edi
    mov   esi, 2                  # F_SETFD
    mov   edx, 1                  # FD_CLOEXEC
    mov   eax, 72                 # fcntl
    syscall
    mov   rdi, [rsp+24]           # argv[2]: the program
    lea   rsi, [rsp+32]           # &argv[3]: its argv
    lea   rdx, [rsp+r13*8+16]     # envp
    mov   eax, 59                 # execve
    syscall
    neg   eax
    push  rax
    mov   edi, r12d
    mov   rsi, rsp
    mov   edx, 4
    mov   r10d, 0x4000            # MSG_NOSIGNAL
    xor   r8d, r8d
    xor   r9d, r9d
    mov   eax, 44                 # sendto
    syscall
    mov   edi, 127
    mov   eax, 231                # exit_group
    syscall
