# hosted/text-order.awk: libgoheap.so's linker script, made from the linker's own default
# (the text between the ===== lines of `ld --verbose`): the functions hosted/text-order.ld
# lists go first in .text, and .fini moves beside .init (docs/alloc.md, "The hosted
# platform", "Text layout"); and the sections hosted/bss-order.ld lists go first in .bss
# ("Data layout").
# Usage: awk -v order=hosted/text-order.ld -v bss=hosted/bss-order.ld \
#            -f hosted/text-order.awk VERBOSE > SCRIPT
/^==========/ { inside = !inside; next }
inside { line[++n] = $0 }

function find(re, from,    i) {
    for (i = from; i <= n; i++)
        if (line[i] ~ re)
            return i
    return 0
}

# The end of the block that opens at line i: the first line that is "  }" or ends in " }".
function block_end(i) {
    for (; i <= n; i++)
        if (line[i] ~ /^  }[ \t]*$/ || line[i] ~ /{.*}[ \t]*$/)
            return i
    return 0
}

END {
    init = find("^[ \t]*\\.init[ \t]*:", 1)
    fini = find("^[ \t]*\\.fini[ \t]*:", 1)
    cold = find("^[ \t]*\\*\\(\\.text\\.unlikely ", 1)
    bssin = find("^[ \t]*\\*\\(\\.bss \\.bss\\.\\* ", 1)
    if (!init || !fini || !cold || fini < cold || !bssin) {
        print "text-order.awk: the default script has no .init, .fini, .text.unlikely or .bss line where expected" > "/dev/stderr"
        exit 1
    }
    init_end = block_end(init)
    fini_end = block_end(fini)
    for (i = 1; i <= n; i++) {
        if (i >= fini && i <= fini_end)
            continue
        if (i == cold) {
            while ((getline l < order) > 0)
                print l
            close(order)
        }
        if (i == bssin) {
            while ((getline l < bss) > 0)
                print l
            close(bss)
        }
        print line[i]
        if (i == init_end)
            for (j = fini; j <= fini_end; j++)
                print line[j]
    }
}
