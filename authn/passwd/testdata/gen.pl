#!/usr/bin/perl
# Regenerates the golden files of authn/passwd from this machine's libxcrypt
# (Perl's crypt) and OpenSSL:  cd authn/passwd/testdata && perl gen.pl
# Each line: hex(password) TAB hex(salt or setting) TAB result.
# A result of "*0" or "*1" is libxcrypt's failure token.
use strict;
use warnings;

srand(20240611);

sub hexs { return unpack('H*', $_[0]) }

sub rnd_str {
    my ($len, $alphabet) = @_;
    return join '', map { substr($alphabet, int(rand(length $alphabet)), 1) } 1 .. $len;
}

my $printable = join '', map { chr } 0x21 .. 0x7e;
my $alnum     = join '', ('a' .. 'z', 'A' .. 'Z', '0' .. '9');
my $saltchars = "./$alnum";
my $highbytes = join '', map { chr } 0x80 .. 0xff;

my @passwords = ('Secret123!', 'Secret12', '3!', 'x', 'a' x 8, 'a' x 9, "p\x{c3}\x{a4}ssw\x{c3}\x{b6}rd",
    "tab\there", ' leading space', 'trailing space ', "nul\x00cut", 'a' x 88, 'b' x 89, 'c' x 128, 'd' x 129,
    'e' x 511, 'f' x 512);
for my $n (1 .. 60) {
    push @passwords, rnd_str(1 + int(rand(40)), $printable . $highbytes);
}

my @settings = ('jo', 'jdoe', 'john.doe@example.com', 'jo34567890123', 'jo345678901234', '31', '..', 'zz', '//',
    'j', '', '@x', '-john', "\x{c3}\x{a4}bc", 'jo@', 'jo:x', 'jo x', "jo\x{e9}xxxxxxxxxxxxxxxx", 'jo!', 'jo*',
    'jo;', "jo\\", "jo\x7f", '$1$abc', '$5$abc', '*0', '*1', '_j/..salt', '_....abcd', '_/...abcd',
    '_J9..abcd.rest', '_john', '_john.doe@example.com', '_zz..abcd');
for my $n (1 .. 40) {
    push @settings, rnd_str(2, $saltchars);
    push @settings, rnd_str(2 + int(rand(30)), $saltchars . '@-+_=~%');
}

open my $crypt, '>', 'crypt.golden' or die $!;
for my $s (@settings) {
    for my $p (@passwords) {
        # Keep the file small: every setting against a spread of passwords.
        next if rand() < 0.6 && $p !~ /^(Secret123!|Secret12|3!|x)$/;
        # "_john..." is BSDi extended DES with 13.5 million rounds: one line.
        next if $s eq '_john.doe@example.com' && $p ne 'Secret123!';
        print {$crypt} hexs($p), "\t", hexs($s), "\t", crypt($p, $s), "\n";
    }
}
close $crypt;

open my $md5, '>', 'md5.golden' or die $!;
my @salts = ('john.doe@example.com', 'jdoe', 'a', '@', "\x{c3}\x{a4}\x{c3}\x{b6}\x{c3}\x{bc}xyz", '12345678', '123456789',
    'rounds=5', 'sa lt', 'tab', map { rnd_str(1 + int(rand(12)), $printable . $highbytes) } 1 .. 40);
for my $salt (@salts) {
    next if $salt =~ /\$/;    # Crypt::PasswdMD5 cuts at '$', openssl does not
    for my $p (@passwords[0 .. 20]) {
        next if $p =~ /\x00/;    # argv cannot hold NUL
        next if length($p) > 256; # openssl passwd truncates there
        for my $mode ('-1', '-apr1') {
            open my $fh, '-|', 'openssl', 'passwd', $mode, '-salt', $salt, $p or die $!;
            my $out = <$fh>;
            close $fh;
            chomp $out;
            print {$md5} hexs($p), "\t", hexs($salt), "\t", $out, "\n";
        }
    }
}
close $md5;
