#!/usr/bin/perl
# tsgi's PSGI worker: loads a PSGI app (Plack::Util::load_psgi) and serves it on tsgi's framed
# transport (docs/transport.md) on the descriptor TSGI_TRANSPORT_FD names (3). One request at a
# time. Perl's standard library plus Plack (Debian libplack-perl); the PSGI spec is
# https://metacpan.org/pod/PSGI (environ, psgi.input, streaming and delayed responses).
#
# Settings arrive as JSON in TSGI_WORKER_CONFIG: app (the .psgi file), workerId, multiprocess,
# localLib (perl-local-lib), exec (perl-exec files), args (@ARGV), noPlack (perl-no-plack).
use strict;
use warnings;
use Carp ();
use IO::Handle ();
use JSON::PP ();

use constant {
    REQUEST => 0x01, DATA => 0x02, DATA_END => 0x03, ABORT => 0x04, CREDIT => 0x05, CONTROL => 0x10,
    HEAD => 0x81, RDATA => 0x82, END_ => 0x83, RABORT => 0x84, RCREDIT => 0x85, RCONTROL => 0x90,
    WINDOW => 256 * 1024,
    MAX_CHUNK => 1024 * 1024,
    APP_LOAD_ERROR => 4,
};

# ---- process set-up: die with the master, let the master decide when to stop ----
eval { require 'syscall.ph'; syscall(&SYS_prctl, 1, 9, 0, 0, 0); };    # PR_SET_PDEATHSIG, SIGKILL
exit 0 if getppid() == 1;
$SIG{$_} = 'IGNORE' for qw(INT HUP TERM);
$SIG{PIPE} = 'IGNORE';
$SIG{USR2} = sub { print STDERR Carp::longmess('tsgi: psgi worker stack (harakiri)'), "\n" };
STDERR->autoflush(1);
STDOUT->autoflush(1);

my $cfg = JSON::PP->new->decode(delete $ENV{TSGI_WORKER_CONFIG} // '{}');
my $fd = delete $ENV{TSGI_TRANSPORT_FD} // 3;
open(my $conn, '+<&=', $fd) or die "tsgi: psgi worker: no transport on fd $fd: $!\n";
binmode $conn;
my $label = "tsgi: psgi worker $cfg->{workerId} (pid $$)";

# ---- frames ----
my $rbuf = '';

# Next frame as (type, stream, payload), or an empty list at end of file.
sub read_frame {
    while (1) {
        if (length($rbuf) >= 9) {
            my ($t, $sid, $len) = unpack('C V V', $rbuf);
            if (length($rbuf) >= 9 + $len) {
                my $payload = substr($rbuf, 9, $len);
                substr($rbuf, 0, 9 + $len, '');
                return ($t, $sid, $payload);
            }
        }
        my $n = sysread($conn, $rbuf, 262144, length $rbuf);
        next if !defined $n && $!{EINTR};
        return () if !$n;
    }
}

sub send_all {
    my ($data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($conn, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR};
            exit 0;    # the master is gone
        }
        $off += $n;
    }
}

sub frame { my ($t, $sid, $payload) = @_; $payload //= ''; pack('C V V', $t, $sid, length $payload) . $payload }

# A uwsgi vars block (u16le length-prefixed keys and values) into a hash.
sub parse_vars {
    my ($b) = @_;
    my %env;
    my $i = 0;
    my $n = length $b;
    while ($i < $n) {
        my $kl = unpack('v', substr($b, $i, 2));
        my $k = substr($b, $i + 2, $kl);
        my $vl = unpack('v', substr($b, $i + 2 + $kl, 2));
        $env{$k} = substr($b, $i + 4 + $kl, $vl);
        $i += 4 + $kl + $vl;
    }
    return \%env;
}

sub bytes_of {
    my ($s, $what) = @_;
    $s = "$s";
    if (utf8::is_utf8($s) && !utf8::downgrade($s, 1)) {
        warn "$label: wide characters in the response $what; sent as UTF-8\n";
        utf8::encode($s);
    }
    return $s;
}

# ---- one request ----
package TSGI::Stream {
    sub new { my ($class, $sid) = @_; bless { sid => $sid, body => '', body_done => 0, aborted => 0,
        window => main::WINDOW, consumed => 0, head_sent => 0, ended => 0 }, $class }
}

my @pending;    # frames of other streams read while serving one (stale ones are dropped)

# Read frames until `$until->()` holds; frames of the current stream are applied to it.
sub pump {
    my ($st, $until) = @_;
    until ($until->()) {
        my ($t, $sid, $p) = read_frame();
        exit 0 unless defined $t;    # the master is gone: nothing to finish for
        if ($sid == $st->{sid}) {
            if ($t == DATA) { $st->{body} .= $p }
            elsif ($t == DATA_END) { $st->{body_done} = 1 }
            elsif ($t == ABORT) { $st->{aborted} = 1 }
            elsif ($t == CREDIT) { $st->{window} += unpack('V', $p) }
        }
        elsif ($t == REQUEST) { push @pending, [$t, $sid, $p] }
    }
}

sub send_head {
    my ($st, $status, $headers) = @_;
    die "tsgi: response status must be a number, got '" . ($status // 'undef') . "'\n" unless defined $status && $status =~ /^\d{3}$/;
    die "tsgi: response headers must be an array reference\n" unless ref $headers eq 'ARRAY';
    my $out = pack('v v', $status, 0);    # no reason phrase: the master uses the standard one
    for (my $i = 0; $i < @$headers; $i += 2) {
        my ($k, $v) = (bytes_of($headers->[$i], 'header name'), bytes_of($headers->[$i + 1] // '', 'header'));
        $out .= pack('v', length $k) . $k . pack('v', length $v) . $v;
    }
    $st->{head_sent} = 1;
    send_all(frame(HEAD, $st->{sid}, $out));
}

sub send_data {
    my ($st, $chunk) = @_;
    return if $st->{aborted} || !defined $chunk || $chunk eq '';
    $chunk = bytes_of($chunk, 'body');
    for (my $off = 0; $off < length $chunk; $off += MAX_CHUNK) {
        pump($st, sub { $st->{window} > 0 || $st->{aborted} }) if $st->{window} <= 0;
        return if $st->{aborted};
        my $piece = substr($chunk, $off, MAX_CHUNK);
        $st->{window} -= length $piece;
        send_all(frame(RDATA, $st->{sid}, $piece));
    }
}

sub send_end {
    my ($st) = @_;
    return if $st->{ended};
    $st->{ended} = 1;
    send_all(frame(END_, $st->{sid}));
}

# The body of an array response: an array of chunks, or a handle with getline/close.
sub send_body {
    my ($st, $body) = @_;
    if (ref $body eq 'ARRAY') {
        my $joined = join '', map { bytes_of($_, 'body') } grep { defined } @$body;
        send_data($st, $joined);
        return;
    }
    local $/ = \65536;
    while (!$st->{aborted} && defined(my $line = $body->getline)) { send_data($st, $line) }
    $body->close if $body->can('close');
}

sub error_response {
    my ($st, $err) = @_;
    print STDERR "$label: the app died: $err";
    if ($st->{head_sent}) {
        send_all(frame(RABORT, $st->{sid}, "the app died after the response head: $err"));
        $st->{ended} = 1;
        return;
    }
    my $text = "500 Internal Server Error\n";
    send_head($st, 500, ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', length $text]);
    send_data($st, $text);
}

sub psgi_env {
    my ($st, $vars) = @_;
    my %env = %$vars;
    delete @env{qw(HTTP_CONTENT_LENGTH HTTP_CONTENT_TYPE)};
    $env{SCRIPT_NAME} = '' if !defined $env{SCRIPT_NAME} || $env{SCRIPT_NAME} eq '/';
    $env{PATH_INFO} //= '';
    $env{QUERY_STRING} //= '';
    my $https = $env{HTTPS} // '';
    $env{'psgi.version'} = [1, 1];
    $env{'psgi.url_scheme'} = $env{UWSGI_SCHEME} || ($https ne '' && lc $https ne 'off' ? 'https' : 'http');
    $env{'psgi.input'} = TSGI::Input->new($st);
    $env{'psgi.errors'} = *STDERR{IO};
    $env{'psgi.multithread'} = 0;
    $env{'psgi.multiprocess'} = $cfg->{multiprocess} ? 1 : 0;
    $env{'psgi.run_once'} = 0;
    $env{'psgi.nonblocking'} = 0;
    $env{'psgi.streaming'} = 1;
    $env{'psgix.input.buffered'} = 0;
    $env{'psgix.logger'} = sub { my $m = shift; print STDERR "[$m->{level}] $m->{message}\n" };
    $env{'psgix.cleanup'} = 1;
    $env{'psgix.cleanup.handlers'} = [];
    return \%env;
}

sub serve {
    my ($app, $sid, $payload) = @_;
    my $st = TSGI::Stream->new($sid);
    my $env = psgi_env($st, parse_vars($payload));
    my $ok = eval {
        my $res = $app->($env);
        if (ref $res eq 'ARRAY') {
            send_head($st, $res->[0], $res->[1]);
            send_body($st, $res->[2]);
        }
        elsif (ref $res eq 'CODE') {
            my $writer;
            $res->(sub {
                my ($r) = @_;
                send_head($st, $r->[0], $r->[1]);
                if (defined $r->[2]) { send_body($st, $r->[2]); return }
                return $writer = TSGI::Writer->new($st);
            });
            die "the delayed response never called its responder\n" unless $st->{head_sent};
        }
        else {
            die 'the app returned ' . (defined $res ? "'$res'" : 'undef') . " instead of an array or code reference\n";
        }
        1;
    };
    error_response($st, $@ || "unknown error\n") unless $ok;
    send_end($st) unless $st->{ended};
    for my $h (@{ $env->{'psgix.cleanup.handlers'} }) {
        eval { $h->($env); 1 } or print STDERR "$label: a psgix.cleanup handler died: $@";
    }
    # the rest of a body the app did not read (and the stream's last frames) are left to pump later
}

package TSGI::Input {
    sub new { my ($class, $st) = @_; bless { st => $st }, $class }

    # read($buf, $len [, $offset]): up to $len bytes into $buf, 0 at the end of the body.
    sub read {
        my $self = shift;
        my $st = $self->{st};
        my $len = $_[1];
        my $off = $_[2] // 0;
        main::pump($st, sub { length($st->{body}) > 0 || $st->{body_done} || $st->{aborted} })
            if length($st->{body}) == 0;
        die "tsgi: client disconnected\n" if $st->{aborted};
        my $data = substr($st->{body}, 0, $len, '');
        if (length $data) {
            $st->{consumed} += length $data;
            if ($st->{consumed} >= main::WINDOW / 2 && !$st->{body_done}) {
                main::send_all(main::frame(main::RCREDIT, $st->{sid}, pack('V', $st->{consumed})));
                $st->{consumed} = 0;
            }
        }
        $_[0] = '' unless defined $_[0];
        substr($_[0], $off) = $data;
        return length $data;
    }

    sub seek { 0 }
    sub close { 1 }
}

package TSGI::Writer {
    sub new { my ($class, $st) = @_; bless { st => $st }, $class }
    sub write { my ($self, $chunk) = @_; main::send_data($self->{st}, $chunk); 1 }
    sub close { my ($self) = @_; main::send_end($self->{st}); 1 }
    sub poll_cb { my ($self, $cb) = @_; $cb->($self) until $self->{st}{ended} || $self->{st}{aborted}; 1 }
}

package main;

# ---- load the app ----
sub load_app {
    if (my $ll = $cfg->{localLib}) {
        eval { require local::lib; local::lib->import($ll); 1 } or unshift @INC, "$ll/lib/perl5";
    }
    @ARGV = @{ $cfg->{args} // [] };
    for my $file (@{ $cfg->{exec} // [] }) {
        my $r = do $file;
        die "perl-exec $file: $@" if $@;
        die "perl-exec $file: $!\n" if !defined $r && $!;
    }
    my $file = $cfg->{app};
    if ($cfg->{noPlack}) {
        my $app = do $file;
        die $@ if $@;
        die "cannot read $file: $!\n" if !defined $app && $!;
        die "$file does not return a code reference (a PSGI app)\n" unless ref $app eq 'CODE';
        return $app;
    }
    require Plack::Util;
    return Plack::Util::load_psgi($file);
}

my $app = eval { load_app() };
if (!$app) {
    print STDERR "$label: could not load the app $cfg->{app}:\n$@";
    exit APP_LOAD_ERROR;
}
my $runtime = sprintf('Perl %vd', $^V) . (eval { require Plack; ", Plack " . Plack->VERSION } // '');
send_all(frame(RCONTROL, 0, JSON::PP->new->canonical->encode(
    { type => 'ready', pid => $$, slots => 1, app => $cfg->{app}, runtime => $runtime })));

while (1) {
    my ($t, $sid, $p) = @pending ? @{ shift @pending } : read_frame();
    last unless defined $t;
    serve($app, $sid, $p) if $t == REQUEST;
}
exit 0;
